"""`sip-options`: send a SIP OPTIONS over udp or tcp; any SIP response is an answer.

The value is the answer time. Over UDP the request is retransmitted like
RFC 3261 timer A (500 ms, doubling) until the timeout; an ICMP port
unreachable is reported as such, silence fails at the timeout.
"""
from __future__ import annotations

import asyncio
import secrets

from ._common import (
    ProbeContext, ProbeResult, Stopwatch, classify, endpoint_error, failed, fmt_seconds,
    with_timeout,
)


def build_options(host: str, port: int, transport: str, local: tuple) -> bytes:
    """A well-formed OPTIONS request (RFC 3261 §11) from our local address."""
    lhost, lport = local[0], local[1]
    branch = "z9hG4bK" + secrets.token_hex(8)
    lines = [
        f"OPTIONS sip:{host}:{port} SIP/2.0",
        f"Via: SIP/2.0/{transport.upper()} {lhost}:{lport};branch={branch};rport",
        "Max-Forwards: 70",
        f"To: <sip:{host}:{port}>",
        f"From: <sip:overseer@{lhost}>;tag={secrets.token_hex(6)}",
        f"Call-ID: {secrets.token_hex(12)}@{lhost}",
        "CSeq: 1 OPTIONS",
        f"Contact: <sip:overseer@{lhost}:{lport};transport={transport}>",
        "Accept: application/sdp",
        "User-Agent: overseer-probe",
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


def status_line(data: bytes) -> str | None:
    """'200 OK' from 'SIP/2.0 200 OK\\r\\n...', None when it is not a response."""
    first = data.split(b"\r\n", 1)[0].decode("utf-8", errors="replace")
    parts = first.split(" ", 2)
    if len(parts) >= 2 and parts[0] == "SIP/2.0" and parts[1].isdigit():
        return " ".join(parts[1:])
    return None


class _Udp(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.answer: asyncio.Future = asyncio.get_running_loop().create_future()

    def datagram_received(self, data, addr) -> None:
        line = status_line(data)
        if line is not None and not self.answer.done():
            self.answer.set_result(line)

    def error_received(self, exc) -> None:
        if not self.answer.done():
            self.answer.set_exception(exc)


async def _udp(check) -> str:
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(
        _Udp, remote_addr=(check.host, check.port))
    try:
        request = build_options(check.host, check.port, "udp", transport.get_extra_info("sockname"))
        wait = 0.5
        while True:
            transport.sendto(request)
            done, _ = await asyncio.wait({proto.answer}, timeout=wait)
            if done:
                return proto.answer.result()
            wait = min(wait * 2, 4.0)
    finally:
        transport.close()


async def _tcp(check) -> str:
    reader, writer = await asyncio.open_connection(check.host, check.port)
    try:
        writer.write(build_options(check.host, check.port, "tcp", writer.get_extra_info("sockname")))
        await writer.drain()
        line = await reader.readline()
    finally:
        writer.close()
    answer = status_line(line)
    if answer is None:
        raise ConnectionError(f"not a SIP answer: {line[:40]!r}")
    return answer


@with_timeout(lambda c: f"no SIP answer to OPTIONS from {c.host}:{c.port}/{c.transport}")
async def probe(check, ctx: ProbeContext) -> ProbeResult:
    watch = Stopwatch()
    try:
        answer = await (_udp(check) if check.transport == "udp" else _tcp(check))
    except ConnectionRefusedError:
        where = "port unreachable" if check.transport == "udp" else "connection refused"
        return failed(f"no SIP listener at {check.host}:{check.port}/{check.transport} ({where})")
    except OSError as exc:
        return failed(endpoint_error(exc, check.host, check.port))
    return classify(watch.elapsed(), check.limits(), f"SIP {answer} in", fmt_seconds)
