"""What goes over the wire to etcd's JSON gateway: requests encoded, answers
decoded, and every failure turned into the StoreError an operator reads.

Pure functions, no I/O; etcd_http.py does the talking. The gateway speaks
proto3 JSON: bytes in base64, 64-bit integers as strings, fields at their
zero value left out (so `succeeded: false` and `TTL: 0` are absent).
"""
from __future__ import annotations

import base64
import json
import sys

from .errors import AnswerTooLarge, AuthTokenExpired, EtcdUnavailable, MalformedAnswer, Rejected, StoreError
from .etcd_answers import BadAnswer, get_int, get_str, obj
from .etcd_types import Delete, Get, Put, as_bytes
from overseer.desired.http11.errors import BodyTooLarge, HandshakeCut, ProtocolError

# gRPC status codes etcd puts in its gateway errors
_CANCELLED, _DEADLINE, _UNAVAILABLE, _PERMISSION, _UNAUTHENTICATED = 1, 4, 14, 7, 16
# etcd answers a bad or missing user/password with INVALID_ARGUMENT, not UNAUTHENTICATED
_AUTH_MESSAGES = ("etcdserver: authentication failed", "etcdserver: user name is empty",
                  "etcdserver: invalid auth token", "etcdserver: user name not found")


def b64(value) -> str:
    return base64.b64encode(as_bytes(value)).decode()


def compare_of(cmp) -> dict:
    out = {"key": b64(cmp.key), "target": cmp.target, "result": cmp.op}
    if cmp.target == "VALUE":
        out["value"] = b64(cmp.value)
    else:
        field = {"VERSION": "version", "CREATE": "create_revision", "MOD": "mod_revision",
                 "LEASE": "lease"}[cmp.target]
        out[field] = int(cmp.value)
    return out


def op_of(op) -> dict:
    if isinstance(op, Put):
        body = {"key": b64(op.key), "value": b64(op.value)}
        if op.lease:
            body["lease"] = int(op.lease)
        return {"request_put": body}
    if isinstance(op, (Delete, Get)):
        body = {"key": b64(op.key)}
        if op.range_end is not None:
            body["range_end"] = b64(op.range_end)
        return {"request_delete_range" if isinstance(op, Delete) else "request_range": body}
    raise TypeError(f"not an etcd transaction operation: {op!r}")


def decode(data: bytes, status: int, stream: bool, where: str, call: str):
    """A gateway answer as a dict, or the StoreError it stands for (returned, not
    raised: the caller decides whether another member may answer better).

    Total: an answer that is not a JSON object, or an error without etcd's
    code and message, is a MalformedAnswer; a 5xx is never success."""
    text = data.decode("utf-8", "replace")
    if stream:
        text = next((line for line in text.splitlines() if line.strip()), "")
    try:
        answer = json.loads(text)
    except RecursionError:
        return MalformedAnswer(f"etcd at {where}: the answer to {call} is nested too deeply to be etcd's")
    except ValueError:
        return MalformedAnswer(f"etcd at {where} answered HTTP {status} to {call}: {text.strip()[:200]!r}"
                               " (is this etcd's client URL? an https etcd needs an https:// URL and --cacert)")
    if not isinstance(answer, dict):
        return MalformedAnswer(f"etcd at {where} answered HTTP {status} to {call} with {text.strip()[:60]!r},"
                               " not a JSON object: not etcd's gateway")
    try:
        if stream and "error" in answer:
            error = obj(answer["error"], "error")
            return etcd_error(get_int(error, "grpc_code", "error") or get_int(error, "code", "error"),
                              get_str(error, "message", "error"), where)
        if stream and "result" in answer:
            answer = obj(answer["result"], "result")
        if status != 200 or "error" in answer:
            # etcd's errors carry a gRPC code and a message, whatever the HTTP status
            if "code" not in answer or ("message" not in answer and "error" not in answer):
                raise BadAnswer("", f"(HTTP {status}) is no etcd error: it has no code and message")
            message = get_str(answer, "message") or get_str(answer, "error")
            error = etcd_error(get_int(answer, "code"), message, where)
            if status >= 500 and type(error) is Rejected:
                # a server-side failure says nothing against the request: another try may work
                return EtcdUnavailable(f"etcd at {where} failed {call} (HTTP {status}): {message}")
            return error
    except BadAnswer as exc:
        return malformed(where, call, exc)
    return answer


def malformed(where: str, call: str, exc: BadAnswer) -> MalformedAnswer:
    return MalformedAnswer(f"etcd at {where} sent a malformed answer to {call}: {exc}"
                           " (a proxy or another service on etcd's port?)")


def protocol_error(exc: ProtocolError, where: str, call: str, configured: bool) -> MalformedAnswer:
    """An answer the HTTP layer (desired/http11/) could not read to its end. `configured`: the size
    limit was --max-answer (a read), not the fixed one of a small answer."""
    if isinstance(exc, BodyTooLarge):
        fix = (" raise --max-answer (OVERSEER_ETCD_MAX_ANSWER) if the cluster is that large" if configured
               else " etcd never sends that much there")
        return AnswerTooLarge(f"etcd at {where}: the answer to {call} is over the limit of {exc.limit:,}"
                              f" bytes ({exc});{fix}")
    return MalformedAnswer(f"etcd at {where}: the answer to {call} is not HTTP as etcd speaks it: {exc}"
                           " (a proxy or another service on etcd's port?)")


def etcd_error(code: int, message: str, where: str) -> StoreError:
    if "invalid auth token" in message:
        return AuthTokenExpired(f"etcd at {where}: our auth token expired ({message})")
    if code in (_UNAUTHENTICATED, _PERMISSION) or any(m in message for m in _AUTH_MESSAGES):
        return StoreError(f"etcd at {where} refused the credentials: {message}"
                          " (check --user / OVERSEER_ETCD_USER and the password:"
                           " --password-file / OVERSEER_ETCD_PASSWORD_FILE, or OVERSEER_ETCD_PASSWORD)")
    if code in (_UNAVAILABLE, _DEADLINE, _CANCELLED):
        return EtcdUnavailable(f"etcd unreachable at {where}: {message}")
    return Rejected(f"etcd at {where} rejected the request: {message}", code)

def tls_failure(exc: BaseException, kind: str = "SSLError") -> bool:
    """Is `exc` an ssl.<kind>? Asked without importing ssl: it is imported only
    where TLS is configured (client.py), and where it is not, nothing failed in TLS."""
    ssl = sys.modules.get("ssl")
    return ssl is not None and isinstance(exc, getattr(ssl, kind))


def transport_error(exc: BaseException, where: str, timeout: float) -> StoreError:
    if tls_failure(exc, "SSLCertVerificationError"):
        return EtcdUnavailable(f"etcd at {where}: TLS handshake failed: etcd's certificate is not"
                               " signed by the CA given with --cacert / OVERSEER_ETCD_CACERT"
                               f" ({exc.verify_message})")
    if tls_failure(exc):
        reason = str(getattr(exc, "reason", "") or exc)
        if "CERTIFICATE_REQUIRED" in reason or "BAD_CERTIFICATE" in reason:
            why = ("etcd rejected our client certificate: give one signed by etcd's"
                   " trusted CA with --cert and --key (OVERSEER_ETCD_CERT / _KEY)")
        else:
            why = ("check --cacert, --cert and --key, and that the URL scheme matches etcd"
                   f" (http/https) ({reason})")
        return EtcdUnavailable(f"etcd at {where}: TLS handshake failed: {why}")
    if isinstance(exc, HandshakeCut):
        return EtcdUnavailable(f"etcd at {where}: TLS handshake failed: {exc}; check that the URL"
                               " scheme matches etcd (an http:// etcd needs no --cacert)")
    if isinstance(exc, TimeoutError):
        return EtcdUnavailable(f"etcd at {where} did not answer within {timeout:g}s")
    return EtcdUnavailable(f"etcd unreachable at {where}: {exc or type(exc).__name__}"
                           " (is etcd running? check --etcd / OVERSEER_ETCD;"
                           " an https etcd needs an https:// URL)")
