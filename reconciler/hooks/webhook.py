"""One webhook POST on a socket of its own: one deadline, a bounded answer, no redirect.

Why not urllib: it follows 301/302/303 to any host (and turns the POST into
a GET without its body, which then counts as delivered), names the full URL
in its errors, applies its timeout to each socket read (a server sending a
byte a second holds it for ever) and reads proxies from the environment.
The request and its answer go through the HTTP layer every client of
Overseer's shares (desired/http11/, its limits and its parser); here:

- one deadline (the hook's `timeout`) covers connecting, the TLS handshake,
  sending and the answer's status line and headers; every socket call waits
  only for what is left of it;
- the answer's status line and headers are read within the layer's limits
  (Limits.max_head, MAX_ANSWER, in all); the status decides, so the body is
  never read, the connection is closed after the headers;
- a 3xx fails, naming only the host it pointed to: the event goes nowhere
  the operator did not write;
- every message names the endpoint as `scheme://host[:port]/…`
  (desired/hooks.py `endpoint`): a webhook's path and query are often its
  secret, and these messages reach history, the board, `overseer status`
  and the logs;
- extra headers (Authorization ...) come from the hook's `headersFile`.

Name resolution is the system resolver's, bounded by its own timeouts
(resolv.conf), not by the deadline. `ssl` is imported only for an https
webhook (OpenSSL is megabytes an agent without one never needs).
"""
from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from typing import Optional, Sequence
from urllib.parse import urljoin, urlsplit

from overseer.desired.hooks import endpoint
from overseer.desired.http11.blocking import Connection
from overseer.desired.http11.errors import HeadTooLarge, ProtocolError, RemoteClosed, UnsafeRequest
from overseer.desired.http11.wire import Limits

from .headers_file import HeadersFileError, read_headers

LIMITS = Limits(max_body=0)      # the body is never read
MAX_ANSWER = LIMITS.max_head     # status line and headers; a webhook's answer is a status and a few headers
_REASON = 60                     # characters of the server's reason phrase kept in a message


class Failed(Exception):
    """The webhook was not delivered; the message names no path, query or secret."""


class TimedOut(Failed):
    """The deadline passed before the answer's headers arrived."""


@dataclass(frozen=True)
class Target:
    tls: bool
    host: str            # as resolved and checked against the certificate
    port: int
    host_header: str
    path: str            # path and query, as sent
    shown: str           # scheme://host[:port]/… for messages

    @classmethod
    def of(cls, url: str) -> "Target":
        parts = urlsplit(url)   # checked when the document was applied (desired/hooks.py)
        tls = parts.scheme == "https"
        host, port = parts.hostname or "", parts.port
        bracketed = f"[{host}]" if ":" in host else host
        host_header = bracketed if port is None else f"{bracketed}:{port}"
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return cls(tls, host, port or (443 if tls else 80), host_header, path, endpoint(url))


def _left(deadline: float, timeout: float, what: str) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimedOut(f"{what} within {timeout:g}s")
    return left


def _tls_context():
    global _CONTEXT
    if _CONTEXT is None:
        import ssl  # noqa: PLC0415  (only for an https webhook)
        _CONTEXT = ssl.create_default_context()
    return _CONTEXT


_CONTEXT = None


def _connect(target: Target, deadline: float, timeout: float) -> socket.socket:
    try:
        addresses = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise Failed(f"cannot resolve {target.shown}: {exc.strerror}") from None
    except UnicodeError:
        raise Failed(f"cannot resolve {target.shown}: not a valid host name") from None
    failure: Optional[OSError] = None
    for family, kind, proto, _, address in addresses:
        sock = None
        try:
            sock = socket.socket(family, kind, proto)
            sock.settimeout(_left(deadline, timeout, f"no connection to {target.shown}"))
            sock.connect(address)
            break
        except TimeoutError:
            sock.close()
            raise TimedOut(f"no connection to {target.shown} within {timeout:g}s") from None
        except OSError as exc:      # the next address may answer (IPv6 first, then IPv4)
            if sock is not None:
                sock.close()
            failure = exc
        except TimedOut:
            sock.close()
            raise
    else:
        why = failure.strerror if failure is not None and failure.strerror else "no address"
        raise Failed(f"cannot reach {target.shown}: {why}")
    if not target.tls:
        return sock
    import ssl  # noqa: PLC0415  (only for https)
    context = _tls_context()
    try:
        # the handshake as a whole waits at most this long (CPython's deadline)
        sock.settimeout(_left(deadline, timeout, f"no TLS handshake with {target.shown}"))
        return context.wrap_socket(sock, server_hostname=target.host)
    except TimeoutError:
        sock.close()
        raise TimedOut(f"no TLS handshake with {target.shown} within {timeout:g}s") from None
    except ssl.SSLCertVerificationError as exc:
        sock.close()
        raise Failed(f"TLS with {target.shown}: certificate refused:"
                     f" {exc.verify_message or exc.reason}") from None
    except ssl.SSLError as exc:
        sock.close()
        raise Failed(f"TLS with {target.shown}: the handshake failed: {exc.reason or exc.strerror}") from None
    except OSError as exc:
        sock.close()
        raise Failed(f"TLS with {target.shown}: the connection ended ({exc.strerror or 'closed'})") from None


def _headers(sock: socket.socket, target: Target, deadline: float, timeout: float) -> tuple[int, str, dict]:
    """(status, reason, headers) of the final answer (1xx skipped), within the layer's limits."""
    conn = Connection(target.host, target.port, timeout, host_header=target.host_header, limits=LIMITS)
    conn.adopt(sock, deadline)
    return _head(conn, target, timeout)


def _head(conn: Connection, target: Target, timeout: float) -> tuple[int, str, dict]:
    try:
        answer = conn.head()
    except TimeoutError:
        raise TimedOut(f"no answer within {timeout:g}s") from None
    except HeadTooLarge as exc:
        raise Failed(f"{target.shown} answered with {exc}; read no further") from None
    except RemoteClosed:
        raise Failed(f"{target.shown} closed the connection before its answer's headers ended") from None
    except ProtocolError:
        raise Failed(f"{target.shown} did not answer in HTTP/1.x") from None
    reason = "".join(c if c.isprintable() else "?" for c in answer.reason)[:_REASON].strip()
    return answer.status, reason, answer.headers


def _status(status: int, reason: str, fields: dict, url: str) -> None:
    said = f"HTTP {status}" + (f" {reason}" if reason else "")
    if 200 <= status < 300:
        return
    if 300 <= status < 400:
        location = fields.get("location")
        if not location:
            raise Failed(f"{said}: a redirect, not followed")
        where = endpoint(urljoin(url, location)) if location.isascii() else "an unreadable URL"
        raise Failed(f"{said}: redirects to {where}, not followed; give the webhook's final URL")
    raise Failed(said)


_HEADERS = [("Content-Type", "application/json"), ("User-Agent", "overseer-hook"), ("Connection", "close")]


def deliver(url: str, body: bytes, timeout: float, headers_file: Optional[str] = None) -> None:
    """POST `body` (JSON) to `url`; Failed or TimedOut unless it answered 2xx."""
    deadline = time.monotonic() + timeout
    target = Target.of(url)
    try:
        headers = read_headers(headers_file) if headers_file else []
    except HeadersFileError as exc:
        raise Failed(f"headersFile {exc}") from None
    sock = _connect(target, deadline, timeout)
    conn = Connection(target.host, target.port, timeout, host_header=target.host_header, limits=LIMITS)
    conn.adopt(sock)
    try:
        try:
            conn.request(target.path, body, _HEADERS + list(headers), deadline)
        except TimeoutError:
            raise TimedOut(f"could not send to {target.shown} within {timeout:g}s") from None
        except UnsafeRequest as exc:
            raise Failed(f"headersFile: {exc}") from None
        except OSError as exc:
            raise Failed(f"sending to {target.shown}: {exc.strerror or 'the connection ended'}") from None
        try:
            status, reason, fields = _head(conn, target, timeout)
        except OSError as exc:
            raise Failed(f"{target.shown}: {exc.strerror or 'the connection ended'}") from None
    finally:
        conn.close()
    _status(status, reason, fields, url)
