"""A simulated etcd's keyspace: what its members agree on once an entry commits.

Only the subset Overseer uses, kept to etcd's documented semantics:
- every write that changes something bumps the revision once per request (a
  txn is one revision); a key remembers create_revision, mod_revision,
  version and lease; a delete removes all of it.
- txn compares: VALUE (a missing key never matches), CREATE / MOD / VERSION
  (0 for a missing key), with == != < >.
- a put on an unknown lease is rejected ("requested lease not found").
- a lease is an id, a TTL, its keys and an expiry; revoking it deletes its
  keys in one revision. *When* a lease expires, who may renew it and when a
  revocation commits is the lessor's business (sim_lessor.py), as in etcd.
- a read may ask for a past revision (the keyspace as it was then: the last
  HISTORY revisions are kept); compaction forgets the revisions before one,
  and a read at such a revision is rejected ("required revision has been
  compacted").
- watches call back after each revision touching their prefix. Delivery and
  reachability are the network's business (reconciler/sim/network.py).

The cluster around it (members, leader, lessor, fsync) is sim_cluster.py
(sim_raft.py, sim_lessor.py, sim_requests.py);
the client surface Store uses is sim_client.py. Used by the simulator
(overseer.reconciler.sim); it lives here because only the store layer may
know etcd's types.
"""
from __future__ import annotations

import contextvars
from dataclasses import dataclass, field
from typing import Callable, Optional

from .errors import Rejected, StoreError
from .etcd_types import (
    EQUAL, GREATER, KV as _KV, LESS, NOT_EQUAL, Delete, Deleted, Get, Header as _Header, Meta, Put,
    as_bytes as _b,
)

COMPACTED = "etcdserver: mvcc: required revision has been compacted"
HISTORY = 256   # past revisions kept for reads "at revision" (a snapshot's second read)


@dataclass
class Lease:
    id: int
    ttl: int
    expires: float                 # on the leader's clock; float("inf") while nobody leads
    keys: set = field(default_factory=set)
    revoking: bool = False         # found expired: a revocation is on its way through raft


class Watch:
    def __init__(self, server: str, prefix: bytes, callback: Callable[[Optional[list]], None], seq: int = 0):
        self.server, self.prefix, self.callback = server, prefix, callback
        # creation order within one etcd: what orders watches wherever order
        # matters (never id(), which depends on what ran before in the process)
        self.seq = seq
        self.context = contextvars.copy_context()  # the watching process's: frozen with it
        self.cancelled = False
        self.member = ""            # the etcd member whose stream this is
        self.client = None          # the client it was opened on (its current member on re-creation)
        self.compacted = False      # etcd cancelled it: compaction passed it by


class SimEtcd:
    def __init__(self, notify: Callable[[Watch, Optional[list]], None]):
        self.notify = notify                      # the network delivers watch events
        self.revision = 1
        self.compacted = 0                        # revisions below this are gone
        self.data: dict[bytes, _KV] = {}
        self._past: dict[int, dict[bytes, _KV]] = {1: {}}   # revision -> the keyspace then
        self.leases: dict[int, Lease] = {}
        self.watches: list[Watch] = []
        self._next_lease = 0x7a00
        self._next_watch = 0
        self.on_commit: Callable[[list[bytes]], None] = lambda keys: None  # the checker's eye

    def watch(self, server: str, prefix: bytes, callback: Callable[[Optional[list]], None]) -> Watch:
        """A new (not yet started) watch, numbered in creation order."""
        self._next_watch += 1
        return Watch(server, prefix, callback, self._next_watch)

    # --- leases (the lessor decides when) -------------------------------------

    def grant(self, ttl: int, expires: float) -> Lease:
        self._next_lease += 1
        lease = Lease(self._next_lease, int(ttl), expires)
        self.leases[lease.id] = lease
        return lease

    def revoke(self, lease_id: int) -> bool:
        lease = self.leases.pop(lease_id, None)
        if lease is None:
            return False
        self._delete_keys(sorted(lease.keys))
        return True

    # --- the keyspace -------------------------------------------------------

    def range(self, key: bytes, prefix: bool) -> list[_KV]:
        if not prefix:
            kv = self.data.get(key)
            return [kv] if kv else []
        return [self.data[k] for k in sorted(self.data) if k.startswith(key)]

    def at_revision(self, revision: int) -> dict[bytes, _KV]:
        """The keyspace as it was at `revision`."""
        if revision < self.compacted:
            raise Rejected(f"etcd rejected the request: {COMPACTED}", 11)
        if revision == self.revision:
            return self.data
        if revision not in self._past:
            raise ValueError(f"simulated etcd keeps {HISTORY} revisions: {revision} is older")
        return self._past[revision]

    def _bumped(self) -> None:
        self._past[self.revision] = dict(self.data)
        self._past.pop(self.revision - HISTORY, None)

    def compact(self) -> None:
        """Forget every revision before the current one (etcdctl compact)."""
        self.compacted = self.revision

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
            self._bumped()
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
            self._bumped()
            self._changed(changed)
        return ok, responses

    def _changed(self, keys: list[bytes]) -> None:
        self.on_commit(keys)
        for watch in self.watches:
            if not watch.cancelled and any(k.startswith(watch.prefix) for k in keys):
                self.notify(watch, [k for k in keys if k.startswith(watch.prefix)])


__all__ = ["SimEtcd", "Lease", "Watch", "COMPACTED"]
