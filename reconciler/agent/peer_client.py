"""Asking one peer's `/healthz` over HTTP: the failsafe question on the wire.

One request through the HTTP layer's asyncio driver (desired/http11/): the
answer read to its end (its Content-Length, or the peer closing) within its
limits (a body of at most MAX_ANSWER bytes) and one deadline for the whole
exchange (connect, TLS handshake, send, read). An answer split over several
segments is read whole; a peer that trickles or floods its answer cannot
hold the asker past its deadline. What the answer says, and whether it
counts, is the caller's to check (peer_desk.py, peer_auth.check_answer):
this only moves bytes.
"""
from __future__ import annotations

import ssl
import time
from typing import Mapping, Optional
from urllib.parse import urlencode

from overseer.desired.http11 import wire
from overseer.desired.http11.errors import BodyTooLarge, ProtocolError, RemoteClosed
from overseer.desired.http11.streams import exchange

from .failsafe import Peer, Reply, Unanswered

MAX_ANSWER = 16 * 1024    # a failsafe answer's body is about 100 bytes
LIMITS = wire.Limits(max_body=MAX_ANSWER)


async def ask_peer(peer: Peer, timeout: float, params: Mapping[str, str],
                   tls: Optional[ssl.SSLContext] = None) -> Reply | Unanswered:
    """`tls`: mutual TLS (peer_tls.py), the answering certificate must name `peer`."""
    query = urlencode(params)
    request = wire.request_head("GET", f"/healthz{'?' + query if query else ''}", peer.address, (), None,
                                version="HTTP/1.0")
    try:
        answer = await exchange(peer.address, peer.port, request, time.monotonic() + timeout, LIMITS,
                                tls=tls, server_hostname=peer.name if tls else None)
    except TimeoutError:
        return Unanswered(f"silent for {timeout:g}s")
    except ssl.SSLError as exc:   # before OSError, which it is: the reason matters here
        return Unanswered(f"TLS: {getattr(exc, 'verify_message', None) or exc.reason or exc}")
    except RemoteClosed as exc:   # before OSError, which it is: no strerror to tell
        return _closed(exc)
    except OSError as exc:
        return Unanswered(exc.strerror or type(exc).__name__)
    except BodyTooLarge as exc:
        return Unanswered(f"answer over {exc.limit} bytes")
    except ProtocolError as exc:
        return Unanswered(str(exc))
    return Reply(answer.head.status, answer.body, answer.head.headers)


def parse_answer(raw: bytes) -> Reply | Unanswered:
    """An HTTP/1.x answer already read to its end (by a test's own socket),
    judged as ask_peer judges one; a truncated one is no answer."""
    try:
        answer = wire.parse(raw, LIMITS)
    except BodyTooLarge as exc:
        return Unanswered(f"answer over {exc.limit} bytes")
    except RemoteClosed as exc:
        return _closed(exc)
    except ProtocolError as exc:
        return Unanswered(str(exc))
    return Reply(answer.head.status, answer.body, answer.head.headers)


def _closed(exc: RemoteClosed) -> Unanswered:
    # a peer refusing our certificate (TLS 1.3) looks like this to the asker
    return Unanswered("truncated answer (no end of headers)" if exc.began else "closed without an answer")
