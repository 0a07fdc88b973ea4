"""A simulated etcd: one keyspace, revisions, leases on virtual time, txns, watches.

Only the subset Overseer uses, kept to etcd's documented semantics:
- every write that changes something bumps the revision once per request (a
  txn is one revision); a key remembers create_revision, mod_revision,
  version and lease; a delete removes all of it.
- txn compares: VALUE (a missing key never matches), CREATE / MOD / VERSION
  (0 for a missing key), with == != < >.
- a put on an unknown lease is rejected ("requested lease not found").
- leases expire `ttl` seconds after their grant or last refresh, deleting
  their keys; refreshing an unknown lease answers TTL 0. While etcd is down
  nothing expires, and a returning etcd extends every lease by a full TTL
  (as a new leader does).
- watches call back after each revision touching their prefix. Delivery and
  reachability are the network's business (network.py).

`SimClient` offers the client surface of etcd_http.py that
desired/store/store.py and documents.py call, so the real Store runs on it.
Used by the simulator (overseer.reconciler.sim); it lives here because only
the store layer may know etcd's types.
"""
from __future__ import annotations

import asyncio
import contextvars
from dataclasses import dataclass
from typing import Callable, Optional

from .errors import StoreError
from .etcd_types import (
    EQUAL, GREATER, KV as _KV, LESS, NOT_EQUAL, Delete, Deleted, Get, Header as _Header, LeaseTTL, Meta,
    Put, RangeResponse, Transactions, as_bytes as _b,
)


def _Range(kvs, header):
    return RangeResponse(kvs, header, len(kvs))


@dataclass
class Lease:
    id: int
    ttl: int
    expires: float
    keys: set


class Watch:
    def __init__(self, server: str, prefix: bytes, callback: Callable[[Optional[list]], None], seq: int = 0):
        self.server, self.prefix, self.callback = server, prefix, callback
        # creation order within one etcd: what orders watches wherever order
        # matters (never id(), which depends on what ran before in the process)
        self.seq = seq
        self.context = contextvars.copy_context()  # the watching process's: frozen with it
        self.cancelled = False


class SimEtcd:
    def __init__(self, loop: asyncio.AbstractEventLoop, context, notify: Callable[[Watch], None]):
        self.loop, self.context = loop, context  # timers run in the world's context, never frozen
        self.notify = notify                      # the network delivers watch events
        self.revision = 1
        self.data: dict[bytes, _KV] = {}
        self.leases: dict[int, Lease] = {}
        self.watches: list[Watch] = []
        self.down = False
        self._next_lease = 0x7a00
        self._next_watch = 0
        self.on_commit: Callable[[list[bytes]], None] = lambda keys: None  # the checker's eye

    def watch(self, server: str, prefix: bytes, callback: Callable[[Optional[list]], None]) -> Watch:
        """A new (not yet started) watch, numbered in creation order."""
        self._next_watch += 1
        return Watch(server, prefix, callback, self._next_watch)

    # --- leases -----------------------------------------------------------

    def grant(self, ttl: int) -> Lease:
        self._next_lease += 1
        lease = Lease(self._next_lease, int(ttl), self.loop.time() + ttl, set())
        self.leases[lease.id] = lease
        self.loop.call_at(lease.expires, self._check_expiry, lease.id, context=self.context)
        return lease

    def refresh(self, lease_id: int) -> int:
        lease = self.leases.get(lease_id)
        if lease is None:
            return 0
        lease.expires = self.loop.time() + lease.ttl
        return lease.ttl

    def revoke(self, lease_id: int) -> None:
        lease = self.leases.pop(lease_id, None)
        if lease is not None:
            self._delete_keys(sorted(lease.keys))

    def _check_expiry(self, lease_id: int) -> None:
        lease = self.leases.get(lease_id)
        if lease is None:
            return
        if self.down or self.loop.time() < lease.expires:
            self.loop.call_at(max(lease.expires, self.loop.time() + 0.05), self._check_expiry, lease_id,
                              context=self.context)
            return
        self.revoke(lease_id)

    def come_back(self) -> None:
        """etcd returns from an outage: every lease gets a full TTL again."""
        self.down = False
        now = self.loop.time()
        for lease in self.leases.values():
            lease.expires = max(lease.expires, now + lease.ttl)

    # --- the keyspace -------------------------------------------------------

    def range(self, key: bytes, prefix: bool) -> list[_KV]:
        if not prefix:
            kv = self.data.get(key)
            return [kv] if kv else []
        return [self.data[k] for k in sorted(self.data) if k.startswith(key)]

    def _put(self, key: bytes, value: bytes, lease: int, rev: int) -> None:
        if lease and lease not in self.leases:
            raise StoreError("etcd rejected the request: etcdserver: requested lease not found")
        old = self.data.get(key)
        if old is not None and old.lease and old.lease in self.leases:
            self.leases[old.lease].keys.discard(key)
        create = old.create_revision if old else rev
        version = old.version + 1 if old else 1
        self.data[key] = _KV(key, value, create, rev, version, lease or 0)
        if lease:
            self.leases[lease].keys.add(key)

    def _delete(self, key: bytes) -> bool:
        old = self.data.pop(key, None)
        if old is None:
            return False
        if old.lease and old.lease in self.leases:
            self.leases[old.lease].keys.discard(key)
        return True

    def _delete_keys(self, keys: list[bytes]) -> None:
        changed = [k for k in keys if k in self.data]
        if changed:
            self.revision += 1
            for k in changed:
                self._delete(k)
            self._changed(changed)

    def _compare(self, cmp) -> bool:
        kv = self.data.get(_b(cmp.key))
        if cmp.target == "VALUE":
            if kv is None:
                return False
            have, want = kv.value, _b(cmp.value)
        else:
            attr = {"CREATE": "create_revision", "MOD": "mod_revision", "VERSION": "version",
                    "LEASE": "lease"}[cmp.target]
            have, want = (getattr(kv, attr) if kv else 0), int(cmp.value)
        return {EQUAL: have == want, NOT_EQUAL: have != want, LESS: have < want, GREATER: have > want}[cmp.op]

    def txn(self, compare: list, success: list, failure: list) -> tuple[bool, list]:
        ok = all(self._compare(c) for c in compare)
        ops = success if ok else failure
        rev = self.revision + 1
        changed, responses = [], []
        for op in ops:  # lease checks first: a rejected request changes nothing
            if isinstance(op, Put) and op.lease and op.lease not in self.leases:
                raise StoreError("etcd rejected the request: etcdserver: requested lease not found")
        for op in ops:
            if isinstance(op, Put):
                self._put(_b(op.key), _b(op.value), int(getattr(op.lease, "id", op.lease) or 0), rev)
                changed.append(_b(op.key))
                responses.append(None)
            elif isinstance(op, Delete):
                key = _b(op.key)
                keys = [k for k in sorted(self.data) if k.startswith(key)] if op.range_end else [key]
                deleted = [k for k in keys if self._delete(k)]
                changed.extend(deleted)
                responses.append(Deleted(len(deleted)))
            elif isinstance(op, Get):
                header = _Header(rev if changed else self.revision)
                responses.append([(kv.value, Meta(kv, header)) for kv in self.range(_b(op.key), False)])
            else:
                raise TypeError(f"simulated etcd: unsupported txn op {op!r}")
        if changed:
            self.revision = rev
            self._changed(changed)
        return ok, responses

    def _changed(self, keys: list[bytes]) -> None:
        self.on_commit(keys)
        for watch in self.watches:
            if not watch.cancelled and any(k.startswith(watch.prefix) for k in keys):
                self.notify(watch, [k for k in keys if k.startswith(watch.prefix)])


class SimClient:
    """The client surface Store and documents.py use, for one server."""

    def __init__(self, etcd: SimEtcd, server: str):
        self.etcd, self.server = etcd, server
        self.transactions = Transactions()

    def _header(self) -> _Header:
        return _Header(self.etcd.revision)

    def get(self, key):
        kvs = self.etcd.range(_b(key), False)
        if not kvs:
            return None, None
        return kvs[0].value, Meta(kvs[0], self._header())

    def get_response(self, key, **_):
        return _Range(self.etcd.range(_b(key), False), self._header())

    def get_range_response(self, start, end, revision=None, limit=None, keys_only=False, **_):
        # calls run whole and alone here, so a read "at revision" is a read now
        if revision is not None and revision != self.etcd.revision:
            raise ValueError(f"simulated etcd keeps no history: revision {revision} is gone")
        lo, hi = _b(start), _b(end)
        kvs = [self.etcd.data[k] for k in sorted(self.etcd.data) if lo <= k < hi]
        return _Range(kvs[:limit] if limit else kvs, self._header())

    def get_prefix_response(self, prefix, keys_only=False, limit=None, **_):
        kvs = self.etcd.range(_b(prefix), True)
        return _Range(kvs[:limit] if limit else kvs, self._header())

    def get_prefix(self, prefix, sort_order=None, sort_target="key", keys_only=False, limit=None):
        kvs = self.etcd.range(_b(prefix), True)
        if sort_order == "descend":
            kvs = kvs[::-1]
        if limit:
            kvs = kvs[:limit]
        header = self._header()
        return [(kv.value, Meta(kv, header)) for kv in kvs]

    def put(self, key, value, lease=None):
        self.etcd.txn([], [Transactions.put(key, value, lease=lease)], [])

    def delete(self, key):
        ok, _ = self.etcd.txn([Transactions.version(key) > 0], [Delete(key)], [])
        return ok

    def delete_prefix(self, prefix):
        self.etcd.txn([], [Delete(prefix, range_end=b"\0")], [])

    def transaction(self, compare, success, failure):
        return self.etcd.txn(compare, success, failure)

    def lease(self, ttl, lease_id=None):
        return self.etcd.grant(ttl)

    def refresh_lease(self, lease_id):
        return [LeaseTTL(self.etcd.refresh(lease_id))]

    def revoke_lease(self, lease_id):
        self.etcd.revoke(lease_id)

    def close(self) -> None:
        pass


class SimWatcher:
    """Stands in for desired/store/watch.py's PrefixWatcher (same constructor)."""

    def __init__(self, client: SimClient, prefix: str, on_change, cfg, **_):
        self.etcd = client.etcd
        self.watch = self.etcd.watch(client.server, _b(prefix), on_change)

    def start(self) -> None:
        self.etcd.watches.append(self.watch)

    def cancel(self) -> None:
        self.watch.cancelled = True
        if self.watch in self.etcd.watches:
            self.etcd.watches.remove(self.watch)


__all__ = ["SimEtcd", "SimClient", "SimWatcher", "Watch"]
