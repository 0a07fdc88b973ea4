"""`http`: GET the url; a status outside `expectStatus` fails, else response time is limited.

Spoken over asyncio streams (HTTP/1.1, `Connection: close`) so a timeout
really abandons the request; only the status line is read. https uses the
system's default certificate verification.
"""
from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from ._common import (
    ProbeContext, ProbeResult, Stopwatch, classify, endpoint_error, failed, fmt_seconds,
    with_timeout,
)


def _request(url) -> bytes:
    path = url.path or "/"
    if url.query:
        path += "?" + url.query
    host = url.hostname if url.port is None else f"{url.hostname}:{url.port}"
    return (f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: overseer-probe\r\n"
            "Accept: */*\r\nConnection: close\r\n\r\n").encode("latin-1")


def _status(line: bytes) -> int | None:
    parts = line.decode("latin-1").split(None, 2)
    if len(parts) >= 2 and parts[0].startswith("HTTP/") and parts[1].isdigit():
        return int(parts[1])
    return None


def _tls_context():
    import ssl  # noqa: PLC0415
    return ssl.create_default_context()


@with_timeout(lambda check: f"GET {check.url}")
async def probe(check, ctx: ProbeContext) -> ProbeResult:
    url = urlsplit(check.url)
    secure = url.scheme == "https"
    port = url.port or (443 if secure else 80)
    # ssl only for https: importing it loads OpenSSL (MBs) into the agent
    context = _tls_context() if secure else None
    watch = Stopwatch()
    try:
        reader, writer = await asyncio.open_connection(url.hostname, port, ssl=context)
    except OSError as exc:       # ssl.SSLError is an OSError
        return failed(endpoint_error(exc, url.hostname, port))
    try:
        writer.write(_request(url))
        await writer.drain()
        line = await reader.readline()
    except OSError as exc:
        return failed(f"GET {check.url}: connection lost ({exc.__class__.__name__})")
    finally:
        writer.close()
    elapsed = watch.elapsed()
    status = _status(line)
    if status is None:
        return failed(f"GET {check.url}: not an HTTP answer ({line[:40]!r})")
    if status not in check.expectStatus:
        wanted = ", ".join(str(s) for s in check.expectStatus)
        return failed(f"HTTP {status} from {check.url}, expected {wanted}", elapsed)
    return classify(elapsed, check.limits(), f"HTTP {status} in", fmt_seconds)
