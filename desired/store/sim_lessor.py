"""The simulated etcd's lessor: when a lease expires, who may renew it, and
when its revocation commits.

Kept to etcd 3.4/3.5 (server/lease/lessor.go): lease expiry is the leader's
clock: a lease expires TTL after its grant or last renewal, by wall time,
whatever happened meanwhile. The leader looks for expired leases every
LESSOR_TICK (and at once when it resumes from a stop: the timer is overdue),
and revokes them through raft. A renewal of an expired lease waits for that
revocation and answers TTL 0 (lease not found): queued renewals never save a
lease that expired during a stall. Renewals are no raft write. A new leader
extends every lease to ELECTION_TIMEOUT + TTL from its election (`promote`,
lessor.Promote); nothing else does.

The keyspace's leases (their ids, TTLs, keys) are simulated.py's; who leads
and when a write commits are the raft's (sim_raft.py).
"""
from __future__ import annotations

from typing import Any, Callable, Optional

from .sim_raft import ELECTION_TIMEOUT, Raft
from .simulated import SimEtcd

LESSOR_TICK = 0.5          # lessor.runLoop: revokeExpiredLeases every 500 ms
MIN_LEASE_TTL = 2          # ceil(1.5 x election timeout): etcd grants no shorter lease


class Lessor:
    def __init__(self, etcd: SimEtcd, raft: Raft, clock: Callable[[], float], at: Callable[..., Any],
                 note: Callable[[str], None], changed: Callable[[], None]):
        self.etcd, self.raft = etcd, raft
        self.clock, self.at, self.note, self.changed = clock, at, note, changed
        self._tick = None

    # --- the leader's ticks ---------------------------------------------------------

    def retick(self, now: float) -> None:
        """The leader's next tick (none while nobody runs as leader)."""
        if self._tick is not None:
            self._tick.cancel()
            self._tick = None
        raft = self.raft
        leader = raft.leader
        if leader is None or not raft.alive(leader):
            return
        member = raft.members[leader]
        at = member.phase + int((now - member.phase) // LESSOR_TICK) * LESSOR_TICK
        while at <= now + 1e-9:   # the next tick, strictly later (floats round)
            at += LESSOR_TICK
        self._tick = self.at(at, self._lessor_tick)

    def _lessor_tick(self) -> None:
        if self._tick is not None:    # called at once on a resume: no second chain of ticks
            self._tick.cancel()
            self._tick = None
        now = self.clock()
        raft = self.raft
        if raft.usable(raft.leader):
            for lease in sorted(self.etcd.leases.values(), key=lambda x: x.id):
                if not lease.revoking and lease.expires <= now:
                    lease.revoking = True
                    raft.commit(self._revoke, lease.id, raft.term)
        # without a majority the revocation could not commit; the next tick tries again
        self.retick(now)

    def resumed(self) -> None:
        """The leader resumes from a stop: its timer is overdue, so it looks for
        expired leases at once, before it reads a single request that queued."""
        self.raft.members[self.raft.leader].phase = self.clock() % LESSOR_TICK
        self._lessor_tick()

    def _revoke(self, lease_id: int, term: int) -> None:
        lease = self.etcd.leases.get(lease_id)
        if lease is None or not lease.revoking:
            return
        raft = self.raft
        if term != raft.term or not raft.usable(raft.leader):
            lease.revoking = False            # the proposal died with its leader's term
            return
        self.note(f"lease {lease_id:x} expired: revoked")
        self.etcd.revoke(lease_id)
        self.changed()

    def promote(self, now: float) -> None:
        """lessor.Promote(ElectionTimeout): a new leader's lessor extends every lease."""
        for lease in self.etcd.leases.values():
            lease.expires = now + ELECTION_TIMEOUT + lease.ttl
            lease.revoking = False
        self.retick(now)

    # --- requests ---------------------------------------------------------------------

    def answers_renewal(self, m: str, lease_id: Optional[int], now: float) -> bool:
        """A renewal at `m` is answered now; otherwise it waits (for a leader
        to be heard: waitLeader; or, the lease expired, for its revocation)."""
        raft = self.raft
        if not (raft.members[m].leads or raft.served(m)):
            return False
        lease = self.etcd.leases.get(lease_id)
        return lease is None or lease.expires > now

    def renew(self, lease_id: int, member: str) -> int:
        """lessor.Renew at `member`'s leader; TTL 0: lease not found."""
        lease = self.etcd.leases.get(lease_id)
        if lease is None:
            return 0
        if self.raft.served(member) or member == self.raft.leader:
            # a deposed leader still answering renewals changes nobody's lease
            lease.expires = self.clock() + lease.ttl
        return lease.ttl

    def grant(self, ttl: float) -> int:
        ttl = max(MIN_LEASE_TTL, int(ttl))
        return self.etcd.grant(ttl, self.clock() + ttl).id

    def revoke(self, lease_id: int) -> None:
        if self.etcd.revoke(lease_id):
            self.changed()
