"""`tcp`: connect time to host:port; refused or unreachable fails.

A bare non-blocking socket and `loop.sock_connect`, not asyncio streams: a
probe only needs the handshake, and a stream's transport, protocol and
reader cost twice the CPU of the connect itself at 1 s intervals.
"""
from __future__ import annotations

import asyncio
import socket

from ._common import (
    ProbeContext, ProbeResult, Stopwatch, classify, endpoint_error, failed, fmt_seconds,
    with_timeout,
)


def _literal(host: str, port: int) -> list:
    """getaddrinfo's answer for an address literal, without its thread hop."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
        except OSError:
            continue
        address = (host, port) if family == socket.AF_INET else (host, port, 0, 0)
        return [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", address)]
    return []


async def _connect(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    # a name goes through the resolver (a thread); a literal does not
    infos = _literal(host, port) or await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    error: OSError = OSError(f"no address for {host}")
    for family, kind, proto, _, address in infos:
        sock = socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            await loop.sock_connect(sock, address)
            return
        except OSError as exc:
            error = exc
        finally:
            sock.close()          # also when the timeout cancels the connect
    raise error


@with_timeout(lambda check: f"TCP connect to {check.host}:{check.port}")
async def probe(check, ctx: ProbeContext) -> ProbeResult:
    watch = Stopwatch()
    try:
        await _connect(check.host, check.port)
    except OSError as exc:
        return failed(endpoint_error(exc, check.host, check.port))
    return classify(watch.elapsed(), check.limits(), f"Connect {check.host}:{check.port} in",
                    fmt_seconds)
