"""What etcd answers and what a transaction asks, as plain Python values.

The real client (etcd_http.py) and the simulated etcd (simulated.py) both
speak these, so Store and documents.py never see a wire format. Names follow
etcd's API (create_revision, mod_revision, version, lease) so that code reads
like etcd's documentation.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

Bytes = Union[str, bytes]


def as_bytes(value) -> bytes:
    if isinstance(value, bytes):
        return value
    return str(value).encode()


def prefix_end(prefix: bytes) -> bytes:
    """The range_end that makes [prefix, end) exactly the keys under prefix."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return b"\0"  # etcd: every key from `prefix` on
    return stripped[:-1] + bytes([stripped[-1] + 1])


class KV:
    __slots__ = ("key", "value", "create_revision", "mod_revision", "version", "lease")

    def __init__(self, key: bytes, value: bytes, create_revision: int, mod_revision: int,
                 version: int, lease: int):
        self.key, self.value = key, value
        self.create_revision, self.mod_revision = create_revision, mod_revision
        self.version, self.lease = version, lease


@dataclass(frozen=True)
class Header:
    revision: int


class Meta:
    """One key's metadata, paired with its value in get/get_prefix answers."""
    __slots__ = ("key", "create_revision", "mod_revision", "version", "lease_id", "response_header")

    def __init__(self, kv: KV, header: Optional[Header]):
        self.key = kv.key
        self.create_revision, self.mod_revision = kv.create_revision, kv.mod_revision
        self.version, self.lease_id = kv.version, kv.lease
        self.response_header = header


@dataclass(frozen=True)
class RangeResponse:
    kvs: list
    header: Header
    count: int = 0


@dataclass(frozen=True)
class Deleted:
    """A delete inside a transaction: how many keys it removed."""
    deleted: int


@dataclass(frozen=True)
class LeaseGrant:
    id: int
    ttl: int


@dataclass(frozen=True)
class LeaseTTL:
    """A keep-alive's or a time-to-live query's answer; TTL <= 0: etcd has no such lease."""
    TTL: int


# --- transactions -----------------------------------------------------------

EQUAL, NOT_EQUAL, LESS, GREATER = "EQUAL", "NOT_EQUAL", "LESS", "GREATER"


class Compare:
    """`tx.version(key) == 0` builds one; the operators choose etcd's result."""
    __slots__ = ("key", "target", "op", "value")
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, key: Bytes, target: str):
        self.key, self.target, self.op, self.value = key, target, None, None

    def _with(self, op: str, value) -> "Compare":
        self.op, self.value = op, value
        return self

    def __eq__(self, other):  # type: ignore[override]
        return self._with(EQUAL, other)

    def __ne__(self, other):  # type: ignore[override]
        return self._with(NOT_EQUAL, other)

    def __lt__(self, other):
        return self._with(LESS, other)

    def __gt__(self, other):
        return self._with(GREATER, other)

    def __repr__(self) -> str:
        return f"Compare({self.key!r} {self.target} {self.op} {self.value!r})"


@dataclass(frozen=True)
class Put:
    key: Bytes
    value: Bytes
    lease: int = 0


@dataclass(frozen=True)
class Delete:
    key: Bytes
    range_end: Optional[bytes] = None


@dataclass(frozen=True)
class Get:
    key: Bytes
    range_end: Optional[bytes] = None


class Transactions:
    """The builders Store uses: `tx.create(k) == 0`, `tx.put(k, v, lease=...)`."""

    @staticmethod
    def value(key: Bytes) -> Compare:
        return Compare(key, "VALUE")

    @staticmethod
    def version(key: Bytes) -> Compare:
        return Compare(key, "VERSION")

    @staticmethod
    def create(key: Bytes) -> Compare:
        return Compare(key, "CREATE")

    @staticmethod
    def mod(key: Bytes) -> Compare:
        return Compare(key, "MOD")

    @staticmethod
    def put(key: Bytes, value: Bytes, lease=None) -> Put:
        return Put(key, value, int(getattr(lease, "id", lease) or 0))

    @staticmethod
    def delete(key: Bytes, range_end: Optional[bytes] = None) -> Delete:
        return Delete(key, range_end)

    @staticmethod
    def get(key: Bytes, range_end: Optional[bytes] = None) -> Get:
        return Get(key, range_end)
