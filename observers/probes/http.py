"""`http`: GET the url; a status outside `expectStatus` fails, else response time is limited.

Spoken through the HTTP layer's asyncio driver (desired/http11/, HTTP/1.1,
`Connection: close`): the status line and headers are read within its
limits and by one deadline (the check's timeout), so a server that trickles
or floods its answer is a failure at the deadline or the limit, never a
hang; the body is not read. https uses the system's default certificate
verification.
"""
from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit

from overseer.desired.http11 import wire
from overseer.desired.http11.errors import ProtocolError, RemoteClosed
from overseer.desired.http11.streams import over

from ._common import (
    ProbeContext, ProbeResult, Stopwatch, classify, endpoint_error, failed, fmt_seconds,
    with_timeout,
)

LIMITS = wire.Limits(max_body=0)   # the body is never read


def _request(url) -> bytes:
    path = url.path or "/"
    if url.query:
        path += "?" + url.query
    host = f"[{url.hostname}]" if ":" in url.hostname else url.hostname
    if url.port is not None:
        host += f":{url.port}"
    return wire.request_head("GET", path, host, [("User-Agent", "overseer-probe"), ("Accept", "*/*"),
                                                 ("Connection", "close")], None)


def _tls_context():
    import ssl  # noqa: PLC0415
    return ssl.create_default_context()


@with_timeout(lambda check: f"GET {check.url}")
async def probe(check, ctx: ProbeContext) -> ProbeResult:
    deadline = time.monotonic() + ctx.timeout
    url = urlsplit(check.url)
    secure = url.scheme == "https"
    port = url.port or (443 if secure else 80)
    # a TLS context only for https: building one loads the system's CA certificates
    context = _tls_context() if secure else None
    watch = Stopwatch()
    try:
        reader, writer = await asyncio.open_connection(url.hostname, port, ssl=context)
    except OSError as exc:       # ssl.SSLError is an OSError
        return failed(endpoint_error(exc, url.hostname, port))
    try:
        answer = (await over(reader, writer, _request(url), deadline, LIMITS, read_body=False)).head
    except RemoteClosed as exc:
        where = "inside its headers" if exc.began else "before any"
        return failed(f"GET {check.url}: not an HTTP answer (the connection closed {where})")
    except TimeoutError:
        raise                    # an OSError too: with_timeout names the deadline
    except OSError as exc:
        return failed(f"GET {check.url}: connection lost ({exc.__class__.__name__})")
    except ProtocolError as exc:
        return failed(f"GET {check.url}: not an HTTP answer ({exc})")
    elapsed = watch.elapsed()
    status = answer.status
    if status not in check.expectStatus:
        wanted = ", ".join(str(s) for s in check.expectStatus)
        return failed(f"HTTP {status} from {check.url}, expected {wanted}", elapsed)
    return classify(elapsed, check.limits(), f"HTTP {status} in", fmt_seconds)
