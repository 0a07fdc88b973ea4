"""A simulated etcd cluster on virtual time, as the simulator sees it: one
object that builds the keyspace, the raft, the lessor and what requests
meet, wires them together, and takes the faults.

The decisions live apart, each kept to etcd 3.4/3.5:
- the keyspace (revisions, keys, leases, watches): simulated.py;
- the members, who leads, elections and fsync: sim_raft.py;
- when leases expire, who renews them, when revocations commit: sim_lessor.py;
- what one client request meets at one member, and the links between
  servers and members: sim_requests.py.

After every change (a fault, an election, a revocation) the raft reconsiders
each member and `on_change` (the network's) wakes the calls waiting on one.
"""
from __future__ import annotations

import random
from typing import Any, Callable, Optional

from .sim_lessor import LESSOR_TICK, MIN_LEASE_TTL, Lessor
from .sim_raft import ELECTION_TIMEOUT, Member, Raft
from .sim_requests import (
    ANSWER, DELAY, DROPPED, LINK, LOST, QUEUED, REFUSED, WAIT, Abandoned, Blocked, Call, Requests,
)
from .simulated import SimEtcd


class SimCluster:
    def __init__(self, names: tuple[str, ...], rng: random.Random, clock: Callable[[], float],
                 at: Callable[..., Any], notify, note: Callable[[str], None] = lambda text: None):
        self.etcd = SimEtcd(notify)
        self.rng, self.clock, self.at, self.note = rng, clock, at, note
        self.names = names
        phases = {n: rng.uniform(0, LESSOR_TICK) for n in names}
        self.raft = Raft(names, phases, rng, clock, at, note, changed=self._changed)
        self.lessor = Lessor(self.etcd, self.raft, clock, at, note, changed=self._changed)
        self.raft.on_elected = self.lessor.promote
        self.requests = Requests(self.raft, self.lessor, clock)
        self.members: dict[str, Member] = self.raft.members
        self.cut_servers = self.requests.cut_servers
        self.blocked = self.requests.blocked
        # what the network and the clients ask per request, answered by the
        # requests' own methods (no extra frame on the simulator's hottest path)
        self.path, self.streams, self.reaches = self.requests.path, self.requests.streams, self.requests.reaches
        self.op, self.direct, self.memo = self.requests.op, self.requests.direct, self.requests.memo
        self.begin, self.end, self.still_pending = self.requests.begin, self.requests.end, self.requests.still_pending
        self.renew, self.grant, self.revoke = self.lessor.renew, self.lessor.grant, self.lessor.revoke
        self.role = self.raft.role
        self.on_change: Callable[[], None] = lambda: None   # the network wakes waiting calls
        self.lessor.retick(self.clock())

    @property
    def leader(self) -> Optional[str]:
        return self.raft.leader

    @property
    def term(self) -> int:
        return self.raft.term

    @property
    def silent(self) -> bool:
        """Every server cut off from every member (etcd keeps running)."""
        return self.requests.silent

    @silent.setter
    def silent(self, silent: bool) -> None:
        self.requests.silent = silent

    # --- faults ----------------------------------------------------------------

    def _changed(self) -> None:
        self.raft.reconsider()
        self.on_change()

    def stall(self, names, stalled: bool) -> None:
        if self.raft.stall(names, stalled):
            self.lessor.resumed()
        self._changed()

    def kill(self, m: str) -> None:
        if self.raft.kill(m):
            self.lessor.retick(self.clock())
        self._changed()

    def restart(self, m: str) -> None:
        self.raft.restart(m)
        self._changed()

    def isolate(self, m: str, cut: bool) -> None:
        """Cut `m` off from (or back to) every other member."""
        self.raft.cut([(m, o) for o in self.names if o != m], cut)
        self._changed()

    def split(self, cut: bool) -> None:
        """Every member cut off from every other (or healed)."""
        self.raft.cut([(a, b) for a in self.names for b in self.names if a < b], cut)
        self._changed()

    def links_changed(self) -> None:
        self._changed()

    def set_fsync(self, seconds: float) -> None:
        self.raft.fsync = seconds
        self._changed()

    def compact(self) -> None:
        self.etcd.compact()
        self.note(f"compacted at revision {self.etcd.compacted}")
        self._changed()


__all__ = ["SimCluster", "Blocked", "Abandoned", "Call", "ELECTION_TIMEOUT", "LESSOR_TICK", "MIN_LEASE_TTL",
           "DROPPED", "REFUSED", "LINK", "QUEUED", "WAIT", "LOST", "DELAY", "ANSWER"]
