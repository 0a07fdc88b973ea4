"""`tcp`: connect time to host:port; refused or unreachable fails."""
from __future__ import annotations

import asyncio

from ._common import (
    ProbeContext, ProbeResult, Stopwatch, classify, endpoint_error, failed, fmt_seconds,
    with_timeout,
)


@with_timeout(lambda check: f"TCP connect to {check.host}:{check.port}")
async def probe(check, ctx: ProbeContext) -> ProbeResult:
    watch = Stopwatch()
    try:
        _, writer = await asyncio.open_connection(check.host, check.port)
    except OSError as exc:
        return failed(endpoint_error(exc, check.host, check.port))
    elapsed = watch.elapsed()
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass        # the peer may reset our bare connect; the connect itself succeeded
    return classify(elapsed, check.limits(), f"Connect {check.host}:{check.port} in", fmt_seconds)
