"""Reading etcd's JSON answers without trusting them.

Whatever answers on etcd's port (etcd, a proxy, another service, a broken
link) may send anything. Every field the client uses is read here, with its
JSON type checked as etcd's gateway writes it (proto3 JSON: int64 as a
decimal string, bytes as base64, zero values left out), and anything else
raises BadAnswer naming the field: `kvs[3].value is not base64`. etcd_http.py
turns that into a MalformedAnswer naming the member and the call, retried like
an unreachable etcd. Nothing here raises anything else.

Every top-level answer must carry etcd's header with a revision: an answer
without one is not etcd's, and reading it as "no keys" would show an agent an
empty cluster.

The happy path is a few type tests per field (a snapshot of 1,000 services
is about 13,000 keys); only a failing answer is walked again to say which
field was wrong.
"""
from __future__ import annotations

import binascii
from typing import Optional, Sequence

from .etcd_types import KV, Delete, Deleted, Get, Header, LeaseGrant, Meta, Put, RangeResponse, as_bytes

_INT64 = (-(2 ** 63), 2 ** 64)   # member ids are uint64, the rest int64


class BadAnswer(Exception):
    """A field of an answer is missing or not what etcd sends there."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"{field or 'the answer'} {problem}")
        self.field, self.problem = field, problem


def _name(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def obj(value, field: str = "") -> dict:
    if type(value) is not dict:
        raise BadAnswer(field, f"is {_shown(value)}, not a JSON object")
    return value


# A field left out is its zero value (proto3 JSON); one given as null is not etcd's.

def get_obj(raw: dict, name: str, prefix: str = "") -> dict:
    return obj(raw[name], _name(prefix, name)) if name in raw else {}


def get_list(raw: dict, name: str, prefix: str = "") -> list:
    if name not in raw:
        return []
    value = raw[name]
    if type(value) is not list:
        raise BadAnswer(_name(prefix, name), f"is {_shown(value)}, not a list")
    return value


def _int(value) -> int:
    """An int64 as the gateway writes it (a decimal string) or a JSON number."""
    if type(value) is str:
        number = int(value)          # ValueError: not a number (also over 4,300 digits)
    elif type(value) is int:
        number = value
    else:
        raise ValueError(value)
    if not _INT64[0] <= number < _INT64[1]:
        raise ValueError(value)
    return number


def get_int(raw: dict, name: str, prefix: str = "") -> int:
    if name not in raw:
        return 0
    value = raw[name]
    try:
        return _int(value)
    except ValueError:
        raise BadAnswer(_name(prefix, name), f"is {_shown(value)}, not a 64-bit integer") from None


def get_bool(raw: dict, name: str, prefix: str = "") -> bool:
    value = raw.get(name, False)
    if type(value) is not bool:
        raise BadAnswer(_name(prefix, name), f"is {_shown(value)}, not true or false")
    return value


def get_str(raw: dict, name: str, prefix: str = "") -> str:
    value = raw.get(name, "")
    if type(value) is not str:
        raise BadAnswer(_name(prefix, name), f"is {_shown(value)}, not a string")
    return value


def _bytes(value) -> bytes:
    if type(value) is not str:
        raise ValueError(value)
    return binascii.a2b_base64(value, strict_mode=True)   # binascii.Error is a ValueError


def get_bytes(raw: dict, name: str, prefix: str = "") -> bytes:
    value = raw.get(name, "")
    try:
        return _bytes(value)
    except ValueError:
        raise BadAnswer(_name(prefix, name), f"is {_shown(value)}, not base64") from None


def header_of(raw: dict, prefix: str = "", required: bool = True) -> Optional[Header]:
    """etcd's response header; every top-level answer has one with a revision."""
    if "header" not in raw and not required:
        return None
    header = get_obj(raw, "header", prefix)
    revision = get_int(header, "revision", _name(prefix, "header"))
    if revision <= 0:
        raise BadAnswer(_name(prefix, "header.revision"), "is missing: this is not etcd's answer")
    return Header(revision)


def check_header(raw: dict) -> None:
    header_of(raw)


def checked(raw: dict) -> dict:
    """An answer whose fields nobody reads (a put, a revoke, the status): etcd's all the same."""
    header_of(raw)
    return raw


# --- keys ---------------------------------------------------------------------------

def kv_of(raw, field: str) -> KV:
    try:
        return KV(_bytes(raw.get("key", "")), _bytes(raw.get("value", "")),
                  _int(raw.get("create_revision", 0)), _int(raw.get("mod_revision", 0)),
                  _int(raw.get("version", 0)), _int(raw.get("lease", 0)))
    except (ValueError, AttributeError):
        pass
    # say which field: the slow way, only for an answer that is wrong anyway
    raw = obj(raw, field)
    get_bytes(raw, "key", field)
    get_bytes(raw, "value", field)
    for name in ("create_revision", "mod_revision", "version", "lease"):
        get_int(raw, name, field)
    raise BadAnswer(field, "does not decode")   # unreachable: one of the above raised


def range_of(raw, key: bytes, range_end: Optional[bytes], prefix: str = "",
             header: Optional[Header] = None) -> RangeResponse:
    """A range answer for [key, range_end) (range_end None: the key alone;
    b"\\0": every key from `key` on); a key outside what was asked is wrong."""
    raw = obj(raw, prefix)
    own = header_of(raw, prefix, required=header is None)
    where = _name(prefix, "kvs")
    kvs = [kv_of(kv, f"{where}[{i}]") for i, kv in enumerate(get_list(raw, "kvs", prefix))]
    for i, kv in enumerate(kvs):
        if not (kv.key == key if range_end is None else
                key <= kv.key and (range_end == b"\0" or kv.key < range_end)):
            raise BadAnswer(f"{where}[{i}].key", f"{_shown(kv.key)} is outside the range asked")
    return RangeResponse(kvs, own or header, get_int(raw, "count", prefix))


def txn_of(raw: dict, success: Sequence, failure: Sequence) -> tuple[bool, list]:
    """(succeeded, one result per operation of the branch that ran): a range's
    [(value, Meta)], a delete's Deleted, a put's None. The results must match
    the operations asked, one for one and kind for kind."""
    header = header_of(raw)
    succeeded = get_bool(raw, "succeeded")
    ops = success if succeeded else failure
    responses = get_list(raw, "responses")
    if len(responses) != len(ops):
        raise BadAnswer("responses", f"has {len(responses)} results for {len(ops)} operations")
    return succeeded, [_op_result(r, f"responses[{i}]", header, op) for i, (r, op) in enumerate(zip(responses, ops))]


def _op_result(raw, field: str, header: Header, op):
    raw = obj(raw, field)
    expected = _RESULT_OF[type(op)]
    if expected not in raw:
        raise BadAnswer(field, f"has no {expected} for a {type(op).__name__}")
    if isinstance(op, Get):
        end = None if op.range_end is None else as_bytes(op.range_end)
        rng = range_of(raw[expected], as_bytes(op.key), end, _name(field, expected), header)
        return [(kv.value, Meta(kv, rng.header)) for kv in rng.kvs]
    inner = get_obj(raw, expected, field)
    if isinstance(op, Delete):
        return Deleted(get_int(inner, "deleted", _name(field, expected)))
    return None


_RESULT_OF = {Get: "response_range", Delete: "response_delete_range", Put: "response_put"}


def deleted_of(raw: dict) -> int:
    check_header(raw)
    return get_int(raw, "deleted")


# --- leases, auth, watches --------------------------------------------------------

def lease_grant_of(raw: dict) -> tuple[Optional[LeaseGrant], str]:
    """The lease granted, or None and etcd's reason for refusing it."""
    check_header(raw)
    refused = get_str(raw, "error")
    if refused:
        return None, refused
    lease = get_int(raw, "ID")
    if lease == 0:
        raise BadAnswer("ID", "is missing: a granted lease has one")
    return LeaseGrant(lease, get_int(raw, "TTL")), ""


def ttl_of(raw: dict) -> int:
    check_header(raw)
    return get_int(raw, "TTL")


def token_of(raw: dict) -> str:
    check_header(raw)
    token = get_str(raw, "token")
    if not token:
        raise BadAnswer("token", "is missing: etcd answers a login with one")
    return token


def watch_message(raw: dict) -> tuple[bool, str, list]:
    """(cancelled, etcd's reason, events) of one message of a watch stream."""
    if get_bool(raw, "canceled"):
        return True, get_str(raw, "cancel_reason"), []
    check_header(raw)
    return False, "", [obj(e, f"events[{i}]") for i, e in enumerate(get_list(raw, "events"))]
