"""The presence lease's own etcd connection: keep alive, rescue, revoke; and grants.

Keep-alives must never wait behind other etcd work (a large snapshot read, a
burst of fenced writes): they decide whether an agent fences itself. So leases
can live on a connection of their own with a short timeout, and while etcd
does not answer, rescue keep-alives open fresh connections that replace it
once one gets through. A grant is not one of them: it is a raft write, which
waits for etcd's next save to disk (two, if one is under way), so it goes on
the shared connection with its ordinary timeout. Store (store.py) mixes this
in; everything else it does uses the shared connection.
"""
from __future__ import annotations

import dataclasses
import itertools
import logging
import math

from .client import EtcdConfig, StoreError, call, connect

log = logging.getLogger(__name__)


class LeaseLost(StoreError):
    """etcd no longer knows our lease: everything on it is gone."""


def close_quietly(client) -> None:
    try:
        client.close()
    except Exception:  # closing a dead channel must not mask the real outcome
        pass


def _granted(responses, lease_id: int) -> int:
    """The TTL etcd granted in a refresh; an expired lease raises LeaseLost."""
    ttl = responses[0].TTL if responses else 0
    if ttl <= 0:
        raise LeaseLost(f"lease {lease_id:x} expired in etcd")
    return ttl


class LeaseChannel:
    cfg: EtcdConfig
    client: object   # the shared connection (Store)

    def __init__(self, lease_client=None, connector=None) -> None:
        self._lease_client = lease_client  # see dedicate_lease_channel
        self._rescues = itertools.count()  # rescue_keepalive: which endpoint the next one starts at
        self._connect = connector or connect   # the simulator's builds simulated clients

    def dedicate_lease_channel(self, timeout: float) -> None:
        """Grant, refresh and revoke leases on a connection of their own, whose
        calls give up after `timeout`: a keep-alive then never waits behind a
        large snapshot read on the shared channel, and a hung one ends before
        the next is due. If it cannot connect, leases stay on the shared one."""
        if self._lease_client is not None:
            return
        try:
            self._lease_client = self._connect(dataclasses.replace(self.cfg, timeout=timeout))
        except StoreError as exc:
            log.warning("lease calls share the main etcd connection: %s", exc)

    def _lease_call(self, fn, *args, **kwargs):
        return call(fn, self.cfg, *args, _client=self._leases, **kwargs)

    @property
    def _leases(self):
        return self._lease_client or self.client

    def grant_lease(self, ttl: float) -> int:
        """A new lease, on the shared connection: with the lease channel's
        short timeout, a grant on an etcd slow to save (it resumed from a
        stall with every lease expired, on a slow disk) gave up before its
        commit and went to the back of the queue again, while the agent's
        deadline ran out (simulator seed 2718)."""
        # etcd leases are whole seconds; round up so we never promise less
        return call(self.client.lease, self.cfg, max(1, math.ceil(ttl)), _client=self.client).id

    def keepalive(self, lease_id: int) -> int:
        """Refresh the lease; returns the TTL etcd granted. Raises LeaseLost."""
        client = self._leases
        return _granted(self._lease_call(lambda: list(client.refresh_lease(lease_id))), lease_id)

    def rescue_keepalive(self, lease_id: int, timeout: float) -> int:
        """Refresh the lease on a fresh connection; if that works, it becomes
        the lease connection. The old one may sit in TCP retransmission
        back-off for seconds after a dropped link returns (presence.py).

        Each rescue starts at the next endpoint. A server cut off with its own
        etcd member still reaches that member, which has lost its leader and
        holds a renewal until the leader's heartbeat gets through again: the
        leader's own connection to it may be in back-off for a second after the
        link returns. Rescues that all began there fenced on a link flap of a
        third of the lease (the fault suite's calm family); one in three now
        asks another member, which answers as soon as the link is back."""
        if self._lease_client is None or self._lease_client is self.client:
            return self.keepalive(lease_id)   # no dedicated connection to replace (tests, simulator)
        first = next(self._rescues) % len(self.cfg.endpoints)   # count() is atomic: rescues run on threads
        endpoints = self.cfg.endpoints[first:] + self.cfg.endpoints[:first]
        fresh = self._connect(dataclasses.replace(self.cfg, timeout=timeout, endpoints=endpoints))
        try:
            ttl = _granted(call(lambda: list(fresh.refresh_lease(lease_id)), self.cfg, _client=fresh), lease_id)
        except Exception:
            close_quietly(fresh)
            raise
        old, self._lease_client = self._lease_client, fresh
        close_quietly(old)
        return ttl

    def revoke_lease(self, lease_id: int) -> None:
        self._lease_call(self._leases.revoke_lease, lease_id)
