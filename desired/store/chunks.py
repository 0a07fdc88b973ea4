"""Splitting many etcd operations into transactions etcd accepts.

A default etcd refuses a transaction with more than 128 operations in one
branch (`--max-txn-ops`) and a request over 1.5 MiB (`--max-request-bytes`).
Callers group the operations that belong together (one service's assignment
and its history entries, say); a group is never split across two
transactions, and each transaction stays under both limits with room to
spare for the caller's own extra operations (a marker, the generation key).
"""
from __future__ import annotations

from typing import Iterable, Iterator, Sequence

from .client import StoreError

# etcd's defaults are 128 ops and 1.5 MiB; stay clearly below both.
MAX_OPS = 100
MAX_BYTES = 1_000_000
# what one operation costs in a request beyond its key and value (protobuf framing)
_OP_OVERHEAD = 16


class RequestTooLarge(StoreError):
    """One group of operations alone is over etcd's request limits."""
    exit_code = 1


def op_size(op) -> int:
    """Bytes an operation adds to a transaction request (an estimate from above)."""
    size = _OP_OVERHEAD
    for attr in ("key", "value", "range_end"):
        part = getattr(op, attr, None)
        if part is not None:
            size += len(part.encode() if isinstance(part, str) else part)
    return size


def chunked(groups: Iterable[Sequence], max_ops: int = MAX_OPS,
            max_bytes: int = MAX_BYTES) -> Iterator[list]:
    """Yield lists of operations, whole groups each, within both limits."""
    chunk: list = []
    size = 0
    for group in groups:
        group = list(group)
        if not group:
            continue
        group_size = sum(op_size(op) for op in group)
        if len(group) > max_ops or group_size > max_bytes:
            raise RequestTooLarge(
                f"{len(group)} operations of {group_size} bytes must be written together, over"
                f" the {max_ops} operations / {max_bytes} bytes one etcd transaction may carry"
                " here; raise etcd's --max-txn-ops / --max-request-bytes or make the item smaller")
        if chunk and (len(chunk) + len(group) > max_ops or size + group_size > max_bytes):
            yield chunk
            chunk, size = [], 0
        chunk.extend(group)
        size += group_size
    if chunk:
        yield chunk
