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

from .errors import AuthTokenExpired, EtcdUnavailable, Rejected, StoreError
from .etcd_types import KV, Delete, Deleted, Get, Header, Meta, Put, RangeResponse, as_bytes
from .http11 import HandshakeCut

# gRPC status codes etcd puts in its gateway errors
_CANCELLED, _DEADLINE, _UNAVAILABLE, _PERMISSION, _UNAUTHENTICATED = 1, 4, 14, 7, 16
# etcd answers a bad or missing user/password with INVALID_ARGUMENT, not UNAUTHENTICATED
_AUTH_MESSAGES = ("etcdserver: authentication failed", "etcdserver: user name is empty",
                  "etcdserver: invalid auth token", "etcdserver: user name not found")


def b64(value) -> str:
    return base64.b64encode(as_bytes(value)).decode()


def kv_of(raw: dict) -> KV:
    return KV(base64.b64decode(raw.get("key", "")), base64.b64decode(raw.get("value", "")),
              int(raw.get("create_revision", 0)), int(raw.get("mod_revision", 0)),
              int(raw.get("version", 0)), int(raw.get("lease", 0)))


def range_of(raw: dict) -> RangeResponse:
    return RangeResponse([kv_of(kv) for kv in raw.get("kvs", ())],
                         Header(int(raw.get("header", {}).get("revision", 0))), int(raw.get("count", 0)))


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


def op_result(raw: dict):
    if "response_range" in raw:
        rng = range_of(raw["response_range"])
        return [(kv.value, Meta(kv, rng.header)) for kv in rng.kvs]
    if "response_delete_range" in raw:
        return Deleted(int(raw["response_delete_range"].get("deleted", 0)))
    return None


def decode(data: bytes, status: int, stream: bool, where: str):
    """A gateway answer as a dict, or the StoreError it stands for (returned, not raised:
    the caller decides whether another member may answer better)."""
    text = data.decode("utf-8", "replace")
    if stream:
        text = next((line for line in text.splitlines() if line.strip()), "{}")
    try:
        answer = json.loads(text)
    except ValueError:
        return StoreError(f"etcd at {where} answered HTTP {status}: {text.strip()[:200]!r}"
                          " (is this etcd's client URL? an https etcd needs an https:// URL and --cacert)")
    if stream and isinstance(answer, dict):
        if isinstance(answer.get("error"), dict):
            error = answer["error"]
            return etcd_error(int(error.get("grpc_code", error.get("code", 0))),
                              str(error.get("message", "")), where)
        answer = answer.get("result", answer)
    if status != 200 or (isinstance(answer, dict) and "error" in answer and "code" in answer):
        return etcd_error(int(answer.get("code", 0)), str(answer.get("message") or answer.get("error")),
                          where)
    return answer

def etcd_error(code: int, message: str, where: str) -> StoreError:
    if "invalid auth token" in message:
        return AuthTokenExpired(f"etcd at {where}: our auth token expired ({message})")
    if code in (_UNAUTHENTICATED, _PERMISSION) or any(m in message for m in _AUTH_MESSAGES):
        return StoreError(f"etcd at {where} refused the credentials: {message}"
                          " (check --user / OVERSEER_ETCD_USER and OVERSEER_ETCD_PASSWORD)")
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
