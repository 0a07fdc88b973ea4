"""The simulated etcd's client surface: what etcd_http.py offers Store and
documents.py, for one server's connection, across the cluster's members.

Like etcd_http.HttpEtcd it talks to one member at a time (`current`) and
stays with the member that last answered. A refused connection moves it to
the next member at once; a request that gets no answer moves on only if it
is idempotent (reads, keep-alives, revokes), and the call fails otherwise
(the request may have left: it is never sent twice). An error etcd answers
("raft proposal dropped", "lease not found") is raised as is. The waiting,
timing out and moving on happen in the simulator's network (network.py);
here each request asks the cluster (`SimCluster.op`) whether it is done now.

`connector(cluster, server)` builds clients from an EtcdConfig the way
client.connect does (its endpoints, its timeout, a status call first), so
the lease channel's own connection (leases.py) is simulated too.
"""
from __future__ import annotations

from typing import Callable, Optional
from urllib.parse import urlparse

from .errors import EtcdUnavailable
from .etcd_types import (
    Delete, Get, Header, LeaseGrant, LeaseTTL, Meta, RangeResponse, Transactions, as_bytes as _b,
)
from .sim_cluster import Blocked, SimCluster


POOLED = 2   # idle connections an agent's client keeps to a member that answers (concurrent calls)


def member_of(endpoint: str) -> str:
    """`http://m2:2379` -> `m2`."""
    return urlparse(endpoint if "://" in endpoint else f"http://{endpoint}").hostname or endpoint


def _range(kvs, header):
    return RangeResponse(kvs, header, len(kvs))


class SimClient:
    def __init__(self, cluster: SimCluster, server: str, endpoints: Optional[tuple[str, ...]] = None,
                 timeout: float = 3.0):
        self.cluster, self.etcd, self.server = cluster, cluster.etcd, server
        self.endpoints = tuple(endpoints or cluster.names)
        self.timeout = timeout
        self.index = 0
        self.transactions = Transactions()
        self.open: dict[str, int] = {}   # member -> idle connections to it (etcd_http.py pools them)

    @classmethod
    def connector(cls, cluster: SimCluster, server: str) -> Callable:
        def connect(cfg) -> "SimClient":
            endpoints = tuple(member_of(e) for e in cfg.endpoints)
            # a call re-run after a wait goes on with the client it was connecting
            client = cluster.memo().setdefault(("connect", server, endpoints, cfg.timeout),
                                               cls(cluster, server, endpoints, cfg.timeout))
            client.status()
            return client
        return connect

    # --- which member ------------------------------------------------------------

    @property
    def current(self) -> str:
        return self.endpoints[self.index]

    def advance(self, past: str) -> None:
        """etcd_http.py after a failure at `past`: the member after that one
        (not after whatever a concurrent call moved it to meanwhile)."""
        self.index = (self.endpoints.index(past) + 1) % len(self.endpoints) if past in self.endpoints else 0

    def settle(self, member: str) -> None:
        """An answer came from `member`: stay with it; its connection goes back to the pool."""
        if member in self.endpoints:
            self.index = self.endpoints.index(member)
        self.open[member] = POOLED

    def take_connection(self, member: str) -> bool:
        """A connection to `member` that was open before its answers stopped
        coming: the request goes out on it, which the client then closes when
        the answer does not come."""
        if self.open.get(member, 0) <= 0:
            return False
        self.open[member] -= 1
        return True

    def _op(self, kind: str, idempotent: bool, key: tuple, run, lease: Optional[int] = None):
        return self.cluster.op(self, kind, idempotent, key, run, lease)

    def _read(self, key: tuple, run):
        return self._op("read", True, key, lambda member: run())

    def _header(self):
        return Header(self.etcd.revision)

    # --- reads ------------------------------------------------------------------

    def status(self) -> dict:
        return self._op("status", True, ("status",), lambda member: {"leader": self.cluster.leader})

    def get(self, key):
        def run():
            kvs = self.etcd.range(_b(key), False)
            return (None, None) if not kvs else (kvs[0].value, Meta(kvs[0], self._header()))
        return self._read(("get", key), run)

    def get_response(self, key, **_):
        return self._read(("get_response", key), lambda: _range(self.etcd.range(_b(key), False), self._header()))

    def get_range_response(self, start, end, revision=None, limit=None, keys_only=False, **_):
        def run():
            data = self.etcd.data if revision is None else self.etcd.at_revision(revision)
            lo, hi = _b(start), _b(end)
            kvs = [data[k] for k in sorted(data) if lo <= k < hi]
            return _range(kvs[:limit] if limit else kvs, self._header())
        return self._read(("get_range_response", start, end, revision, limit), run)

    def get_prefix_response(self, prefix, keys_only=False, limit=None, **_):
        def run():
            kvs = self.etcd.range(_b(prefix), True)
            return _range(kvs[:limit] if limit else kvs, self._header())
        return self._read(("get_prefix_response", prefix, limit), run)

    def get_prefix(self, prefix, sort_order=None, sort_target="key", keys_only=False, limit=None):
        def run():
            kvs = self.etcd.range(_b(prefix), True)
            if sort_order == "descend":
                kvs = kvs[::-1]
            if limit:
                kvs = kvs[:limit]
            header = self._header()
            return [(kv.value, Meta(kv, header)) for kv in kvs]
        return self._read(("get_prefix", prefix, sort_order, limit), run)

    # --- writes -----------------------------------------------------------------

    def put(self, key, value, lease=None):
        op = Transactions.put(key, value, lease=lease)
        self._op("write", False, ("put", key, value, lease), lambda member: self.etcd.txn([], [op], []))

    def delete(self, key):
        ok, _ = self._op("write", False, ("delete", key),
                         lambda member: self.etcd.txn([Transactions.version(key) > 0], [Delete(key)], []))
        return ok

    def delete_prefix(self, prefix):
        self._op("write", False, ("delete_prefix", prefix),
                 lambda member: self.etcd.txn([], [Delete(prefix, range_end=b"\0")], []))

    def transaction(self, compare, success, failure):
        # a txn of reads only is a linearizable read, not a raft write (and may go elsewhere)
        reads_only = all(isinstance(op, Get) for op in (*success, *failure))
        return self._op("read" if reads_only else "write", reads_only, ("txn", compare, success, failure),
                        lambda member: self.etcd.txn(compare, success, failure))

    # --- leases -----------------------------------------------------------------

    def lease(self, ttl, lease_id=None):
        lease = self._op("write", False, ("grant", ttl), lambda member: self.cluster.grant(ttl))
        return LeaseGrant(lease, max(2, int(ttl)))

    def refresh_lease(self, lease_id):
        ttl = self._op("renew", True, ("keepalive", lease_id),
                       lambda member: self.cluster.renew(lease_id, member), lease=lease_id)
        return [LeaseTTL(ttl)]

    def revoke_lease(self, lease_id):
        self._op("write", True, ("revoke", lease_id), lambda member: self.cluster.revoke(lease_id))

    def get_lease_info(self, lease_id):
        def run():
            lease = self.etcd.leases.get(lease_id)
            return LeaseTTL(0 if lease is None else max(0, int(lease.expires - self.cluster.clock())))
        return self._read(("timetolive", lease_id), run)

    def close(self) -> None:
        pass


class DirectClient(SimClient):
    """A client outside the agents (the operator's commands, the world's own
    apply): a request that cannot be answered now fails at once."""

    def _op(self, kind, idempotent, key, run, lease=None):
        try:
            return self.cluster.direct(self, kind, idempotent, key, run, lease)
        except Blocked as blocked:
            raise EtcdUnavailable(f"etcd unreachable (simulated: {blocked.kind} at {blocked.member})") from None


class SimWatcher:
    """Stands in for desired/store/watch.py's PrefixWatcher (same constructor).
    The stream is on the member its client talks to when it starts."""

    def __init__(self, client: SimClient, prefix: str, on_change, cfg, **_):
        self.etcd = client.etcd
        self.watch = self.etcd.watch(client.server, _b(prefix), on_change)
        self.watch.client = client

    def start(self) -> None:
        self.watch.member = self.watch.client.current
        self.etcd.watches.append(self.watch)

    def cancel(self) -> None:
        self.watch.cancelled = True
        if self.watch in self.etcd.watches:
            self.etcd.watches.remove(self.watch)


__all__ = ["SimClient", "DirectClient", "SimWatcher", "member_of"]
