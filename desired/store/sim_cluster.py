"""A simulated etcd cluster on virtual time: members, leader, lessor, fsync,
and what one request meets at one member.

Kept to etcd 3.4/3.5 (server/etcdserver, server/lease/lessor.go, raft with
PreVote and CheckQuorum, both on by default):
- **Leader.** A leader serves while it runs and hears a majority. A stopped or
  killed leader, or one cut off from the majority, is replaced once the
  followers' randomized election timeout (1-2 x ELECTION_TIMEOUT) passes, if
  a majority of running members can hear each other; a leader cut off alone
  steps down then (CheckQuorum). With PreVote, a stopped leader whose
  followers could not elect anyone leads on when it resumes: no election.
- **Lessor.** Lease expiry is the leader's clock: a lease expires TTL after
  its grant or last renewal, by wall time, whatever happened meanwhile. The
  leader looks for expired leases every LESSOR_TICK (and at once when it
  resumes from a stop: the timer is overdue), and revokes them through raft.
  A renewal of an expired lease waits for that revocation and answers TTL 0
  (lease not found): queued renewals never save a lease that expired during
  a stall. Renewals are no raft write. A new leader extends every lease to
  ELECTION_TIMEOUT + TTL from its election (`Promote`); nothing else does.
- **Members.** A killed member refuses connections; a stopped one (SIGSTOP)
  accepts them and answers nothing until it resumes, then handles what
  queued. A member without a usable leader answers no linearizable read and
  no renewal (they wait for a leader); a write sent to it is forwarded to the
  leader it knew, or, once its own election timeout passed, dropped at once
  ("raft proposal dropped": Rejected, no failover).
- **fsync.** With a slow disk every raft write waits for the next save to
  finish (saves run back to back, one fsync each, and batch what arrived
  meanwhile); a linearizable read waits for the save in progress; renewals
  do not wait. The etcd of 3.5.13 and later also checks its leadership
  before a renewal when its raft loop is busy: not modelled.
- **Links** between a server and a member can drop each way: requests that
  do not arrive are retransmitted when the link returns (network.py), answers
  that do not come back leave the request applied. With answers dropped, only
  a connection opened before the cut carries a request (a new one needs the
  SYN-ACK), and the client closes each one its request timed out on.

A client call runs its store method synchronously; each etcd request in it
goes through `op`, which either does it now or raises `Blocked`: the network
(reconciler/sim/network.py) waits, re-sends or gives up as etcd_http.py
would, then re-runs the method, replaying the answers of the requests it
already made (`Call.records`), so nothing is sent twice.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from .errors import Rejected, StoreError
from .simulated import SimEtcd

ELECTION_TIMEOUT = 1.0     # etcd's --election-timeout default (seconds)
LESSOR_TICK = 0.5          # lessor.runLoop: revokeExpiredLeases every 500 ms
MIN_LEASE_TTL = 2          # ceil(1.5 x election timeout): etcd grants no shorter lease
DROPPED = "etcdserver: raft proposal dropped"

# What a request meets at a member (Blocked.kind)
REFUSED = "refused"        # the member is killed: connection refused
LINK = "link"              # a dropped link: the request did not arrive (retransmitted on return)
QUEUED = "queued"          # the member is stopped: the request waits in its socket
WAIT = "wait"              # waiting for a leader, a revocation, or a commit that may still come
LOST = "lost"              # forwarded to a leader that is gone: no answer will ever come
DELAY = "delay"            # answered at `until` (a save in progress, or the next one)
ANSWER = "answer"          # done, but the answer cannot come back


class Blocked(BaseException):
    """A request that cannot be answered now. A BaseException: the store's own
    handlers (`except StoreError`, `except Exception`) must not catch it."""

    def __init__(self, kind: str, client: Any, member: str, op: int, idempotent: bool, effect: bool,
                 until: Optional[float] = None, term: Optional[int] = None, everyone: bool = False):
        super().__init__(f"{kind} at {member}")
        self.kind, self.client, self.member, self.op = kind, client, member, op
        self.idempotent = idempotent   # etcd_http.py re-sends it to the next member on a timeout
        self.effect = effect           # it changes something if etcd handles it after all
        self.until, self.term, self.everyone = until, term, everyone


class Abandoned(BaseException):
    """A late request is done: its client had stopped before the next one."""


@dataclass
class Call:
    """One client call (a store method) across its attempts."""
    server: str
    records: list = field(default_factory=list)   # (key, result, error) of requests answered
    index: int = 0                  # requests seen in the current run
    pin: Optional[str] = None       # the blocked request waits at this member...
    pin_op: int = -1                # ...this one
    granted: int = -1               # this request's commit wait is over
    stop_after: Optional[int] = None   # a late request: nothing after it was ever sent
    late: bool = False
    last: Optional[tuple] = None    # (member, idempotent, client) of the last request answered
    memo: dict = field(default_factory=dict)   # objects a re-run reuses (a client being connected)

    def rerun(self) -> None:
        self.index = 0


@dataclass
class Member:
    name: str
    phase: float                    # the lessor's 500 ms ticks fall on phase + k/2
    up: bool = True                 # the process runs (killed: False)
    stalled: bool = False           # SIGSTOP
    leads: bool = False             # believes it is the leader
    lost_at: Optional[float] = None   # since when it has no usable leader
    booted: float = float("-inf")     # when it last started
    drops_at: float = float("inf")  # from then, its election timeout passed: proposals dropped


class SimCluster:
    def __init__(self, names: tuple[str, ...], rng: random.Random, clock: Callable[[], float],
                 at: Callable[..., Any], notify, note: Callable[[str], None] = lambda text: None):
        self.etcd = SimEtcd(notify)
        self.rng, self.clock, self.at, self.note = rng, clock, at, note
        self.names = names
        self.members = {n: Member(n, rng.uniform(0, LESSOR_TICK)) for n in names}
        self.leader: Optional[str] = rng.choice(names)
        self.members[self.leader].leads = True
        self.term = 1
        self.fsync = 0.0
        self._save = (0.0, 0.0)            # the latest save: (start, end)
        self.cut_members: set[frozenset] = set()   # member pairs that cannot hear each other
        self.cut_servers: set[str] = set()         # servers cut off from every member
        self.blocked: set[tuple[str, str]] = set()  # (from, to): packets that way are dropped
        self.silent = False                        # every server cut off (etcd keeps running)
        self._call: Optional[Call] = None
        self._loss = self._election = self._tick = None
        self._gave_up: Optional[int] = None    # the term whose stopped leader the followers gave up on
        self.on_change: Callable[[], None] = lambda: None   # the network wakes waiting calls
        self._retick(self.clock())

    # --- who can do what ------------------------------------------------------

    def alive(self, m: str) -> bool:
        member = self.members[m]
        return member.up and not member.stalled

    def linked(self, a: str, b: str) -> bool:
        return a == b or frozenset((a, b)) not in self.cut_members

    def path(self, src: str, dst: str) -> bool:
        server = dst if src in self.members else src
        return not self.silent and server not in self.cut_servers and (src, dst) not in self.blocked

    def _quorum_with(self, leader: str) -> bool:
        heard = [m for m in self.names if self.alive(m) and self.linked(m, leader)]
        return len(heard) > len(self.names) // 2

    def usable(self, leader: Optional[str]) -> bool:
        return (leader is not None and self.alive(leader) and self.members[leader].leads
                and self._quorum_with(leader))

    def served(self, m: str) -> bool:
        """m answers linearizable requests: it runs and hears a leader that can commit."""
        return self.alive(m) and self.usable(self.leader) and self.linked(m, self.leader)

    def streams(self, member: str, server: str) -> bool:
        """A watch on `member` delivers to `server` (it applies what commits)."""
        return self.served(member) and self.path(member, server)

    def reaches(self, server: str, endpoints: Optional[tuple[str, ...]] = None) -> bool:
        return any(self.path(server, m) and self.path(m, server) and self.served(m)
                   for m in (endpoints or self.names))

    def _quorum_group(self, without: Optional[str] = None) -> list[str]:
        """Running members that can elect one of them (a majority hearing each other)."""
        for m in self.names:
            if m == without or not self.alive(m):
                continue
            group = [o for o in self.names if o != without and self.alive(o) and self.linked(o, m)]
            if len(group) > len(self.names) // 2 and all(self.linked(a, b) for a in group for b in group):
                return group
        return []

    # --- elections and the lessor --------------------------------------------------

    def _reconsider(self) -> None:
        now = self.clock()
        for m in self.names:
            member = self.members[m]
            if self.served(m):
                member.lost_at, member.drops_at = None, float("inf")
            elif self.alive(m) and member.lost_at is None:
                # its own randomized election timeout starts: then it drops proposals
                member.lost_at = now
                member.drops_at = now + self.rng.uniform(1.0, 2.0) * ELECTION_TIMEOUT
        leader = self.leader
        if leader is not None and self.usable(leader):
            self._gave_up = None
            if self._loss is not None:
                self._loss.cancel()
                self._loss = None
        elif leader is not None and self._gave_up != self.term and self._loss is None:
            # the first follower whose randomized election timeout runs out
            wait = min((self.rng.uniform(1.0, 2.0) * ELECTION_TIMEOUT for _ in self.names[1:]), default=0.0)
            self._loss = self.at(now + wait, self._leader_lost)
        # leaderless (none, or a stopped one its followers gave up on): elect once a majority can
        leaderless = leader is None or self._gave_up == self.term
        group = self._quorum_group(without=leader) if leaderless and self._election is None else []
        if group:
            self._election = self.at(now + self._campaign_in(group, now), self._elect)

    def _campaign_in(self, group: list[str], now: float) -> float:
        """Seconds until one of `group` campaigns. A member that just started
        fast-forwards its election ticks once it hears its peers (etcd's
        initial-election-tick-advance: 0.2-1.2 s); one that has been without a
        leader for a while campaigns when its current randomized timeout runs
        out (anywhere in 0-2 x the election timeout)."""
        if len(self.names) == 1:
            return 0.0
        waits = []
        for m in group:
            member = self.members[m]
            if now - member.booted < 2 * ELECTION_TIMEOUT:
                waits.append(0.05 + self.rng.uniform(0.2, 1.2) * ELECTION_TIMEOUT)
            elif member.lost_at is not None and now - member.lost_at < 2 * ELECTION_TIMEOUT:
                # its timer started when it lost its leader
                waits.append(max(0.0, member.lost_at + self.rng.uniform(1.0, 2.0) * ELECTION_TIMEOUT - now))
            else:
                waits.append(self.rng.uniform(0.0, 2.0) * ELECTION_TIMEOUT)
        return min(waits) + 0.01     # and a round of (pre)votes

    def _leader_lost(self) -> None:
        """The followers' election timeout (and the leader's CheckQuorum) passed."""
        self._loss = None
        leader = self.leader
        if leader is None or self.usable(leader):
            return
        group = self._quorum_group(without=leader)
        if group:
            self._become_leader(self.rng.choice(group))
            return
        if self.members[leader].stalled:
            # its followers give up on it; with PreVote nobody's term moved, so it
            # leads on if it resumes before a majority elects someone else
            self._gave_up = self.term
        else:
            # killed, or running without a majority (CheckQuorum): nobody's leader now
            self.members[leader].leads = False
            self.leader = None
            self.note(f"{leader} lost its leadership; no leader (term {self.term})")
        self._changed()

    def _elect(self) -> None:
        self._election = None
        if self.leader is not None and self.usable(self.leader):
            return
        group = self._quorum_group(without=self.leader)
        if group:
            self._become_leader(self.rng.choice(group))
        else:
            self._changed()

    def _become_leader(self, new: str) -> None:
        now = self.clock()
        for member in self.members.values():
            member.leads = False
        self.leader, self.term = new, self.term + 1
        self.members[new].leads = True
        for lease in self.etcd.leases.values():   # lessor.Promote(ElectionTimeout)
            lease.expires = now + ELECTION_TIMEOUT + lease.ttl
            lease.revoking = False
        self.note(f"{new} elected leader (term {self.term}): every lease runs {ELECTION_TIMEOUT:g}s + its TTL"
                  " from now")
        self._retick(now)
        self._changed()

    def _retick(self, now: float) -> None:
        if self._tick is not None:
            self._tick.cancel()
            self._tick = None
        leader = self.leader
        if leader is None or not self.alive(leader):
            return
        member = self.members[leader]
        at = member.phase + int((now - member.phase) // LESSOR_TICK) * LESSOR_TICK
        while at <= now + 1e-9:   # the next tick, strictly later (floats round)
            at += LESSOR_TICK
        self._tick = self.at(at, self._lessor_tick)

    def _lessor_tick(self) -> None:
        if self._tick is not None:    # called at once on a resume: no second chain of ticks
            self._tick.cancel()
            self._tick = None
        now = self.clock()
        if self.usable(self.leader):
            for lease in sorted(self.etcd.leases.values(), key=lambda x: x.id):
                if not lease.revoking and lease.expires <= now:
                    lease.revoking = True
                    self._commit(self._revoke, lease.id, self.term)
        # without a majority the revocation could not commit; the next tick tries again
        self._retick(now)

    def _revoke(self, lease_id: int, term: int) -> None:
        lease = self.etcd.leases.get(lease_id)
        if lease is None or not lease.revoking:
            return
        if term != self.term or not self.usable(self.leader):
            lease.revoking = False            # the proposal died with its leader's term
            return
        self.note(f"lease {lease_id:x} expired: revoked")
        self.etcd.revoke(lease_id)
        self._changed()

    # --- raft writes and fsync -------------------------------------------------------

    def commit_at(self, now: float) -> float:
        """When a raft write arriving now commits: the next save to start after
        it ends (saves run back to back and batch what arrived meanwhile)."""
        if self.fsync <= 0:
            return now
        start, end = self._save
        if now < start:                        # the next save has not started: join it
            return end
        if now < end:                          # a save in progress: the one after it
            self._save = (end, end + self.fsync)
        else:
            self._save = (now, now + self.fsync)
        return self._save[1]

    def _read_at(self, now: float) -> float:
        """A linearizable read waits for the raft loop: the save in progress."""
        start, end = self._save
        return start if now < start else (end if now < end else now)

    def _commit(self, fn, *args) -> None:
        now = self.clock()
        until = self.commit_at(now)
        if until <= now:
            fn(*args)
        else:
            self.at(until, fn, *args)

    # --- what one request meets --------------------------------------------------

    def _outcome(self, server: str, m: str, kind: str, lease: Optional[int], granted: bool):
        member, now = self.members[m], self.clock()
        if not self.path(server, m):
            return LINK, None
        if not member.up:
            return (REFUSED if self.path(m, server) else LINK), None
        if member.stalled:
            return QUEUED, None
        if kind == "status":
            return "ok", None
        if kind == "renew":
            return self._renewal(m, lease, now)
        if self.served(m):
            until = self._read_at(now) if kind == "read" else (now if granted else self.commit_at(now))
            return ("ok", None) if granted or until <= now else (DELAY, until)
        if kind == "read":
            return WAIT, None
        if now >= member.drops_at and not member.leads:
            return "dropped", None
        leader = self.leader
        if leader is not None and self.members[leader].up and self.linked(m, leader) and (
                member.leads or self.members[leader].leads):
            return WAIT, self.term      # forwarded (or in the leader's log): commits if its term lasts
        return LOST, None

    def _renewal(self, m: str, lease_id: Optional[int], now: float):
        member = self.members[m]
        if not (member.leads or self.served(m)):
            return WAIT, None           # waitLeader: forwarded once a leader is heard
        lease = self.etcd.leases.get(lease_id)
        if lease is not None and lease.expires <= now:
            return WAIT, None           # lessor.Renew on an expired lease: waits for the revocation
        return "ok", None

    def renew(self, lease_id: int, member: str) -> int:
        """lessor.Renew at `member`'s leader; TTL 0: lease not found."""
        lease = self.etcd.leases.get(lease_id)
        if lease is None:
            return 0
        if self.served(member) or member == self.leader:
            # a deposed leader still answering renewals changes nobody's lease
            lease.expires = self.clock() + lease.ttl
        return lease.ttl

    def grant(self, ttl: float) -> int:
        ttl = max(MIN_LEASE_TTL, int(ttl))
        return self.etcd.grant(ttl, self.clock() + ttl).id

    def revoke(self, lease_id: int) -> None:
        if self.etcd.revoke(lease_id):
            self._changed()

    def op(self, client, kind: str, idempotent: bool, key: tuple, run: Callable[[str], Any],
           lease: Optional[int] = None) -> Any:
        """One etcd request of a client call: done now, replayed, or Blocked."""
        call = self._call or Call(client.server)
        i = call.index
        call.index += 1
        if i < len(call.records):
            known, result, error = call.records[i]
            if known != key:
                raise RuntimeError(f"simulated etcd: a re-run call sent {key[0]} where it had sent {known[0]}")
            if error is not None:
                raise error
            return result
        if call.stop_after is not None and i > call.stop_after:
            raise Abandoned()
        effect = kind != "read" and kind != "status"
        tries = 0
        while True:
            pinned = call.pin is not None and call.pin_op == i
            m = call.pin if pinned else client.current
            what, extra = self._outcome(call.server, m, kind, lease, call.granted == i)
            if what == "ok":
                break
            if what == "dropped":
                raise Rejected(f"etcd at {m} rejected the request: {DROPPED}", 2)
            if what == REFUSED and not pinned:
                client.advance(m)       # etcd_http.py: refused, so never sent: the next member
                tries += 1
                if tries < len(client.endpoints):
                    continue
                raise Blocked(REFUSED, client, m, i, idempotent, effect, everyone=True)
            if what == LINK and not pinned:
                # written on a connection open before the cut, it is in flight and
                # may land when the link returns; a new connection's SYN dies with
                # the socket its client closes
                effect = effect and client.take_connection(m)
            raise Blocked(what, client, m, i, idempotent, effect, until=extra if what == DELAY else None,
                          term=extra if what == WAIT else None)
        answered = self.path(m, call.server)
        if not answered and not client.take_connection(m):
            # no connection left from before the cut, and a new one needs the
            # SYN-ACK that is dropped: the request never leaves
            raise Blocked(LINK, client, m, i, idempotent, False)
        try:
            result, error = run(m), None
        except StoreError as exc:
            result, error = None, exc
        if not answered:
            raise Blocked(ANSWER, client, m, i, idempotent, False)
        if not call.late:
            client.settle(m)            # etcd_http.py stays with the member that answered
        call.records.append((key, result, error))
        call.last = (m, idempotent, client)
        if error is not None:
            raise error
        return result

    def direct(self, client, kind: str, idempotent: bool, key: tuple, run, lease: Optional[int] = None):
        """A request from outside the agents (the operator): answered now or Blocked."""
        saved, self._call = self._call, Call(client.server, granted=0)
        try:
            return self.op(client, kind, idempotent, key, run, lease)
        finally:
            self._call = saved

    def memo(self) -> dict:
        """Objects the running call created, kept for its re-runs."""
        return self._call.memo if self._call is not None else {}

    def begin(self, call: Call) -> None:
        self._call = call
        call.rerun()

    def end(self) -> None:
        self._call = None

    def still_pending(self, blocked: Blocked) -> bool:
        """After a change: may this request still be answered? A write waiting on
        a leader's term is lost once another term began."""
        if blocked.kind == LOST:
            return False
        return blocked.kind != WAIT or blocked.term is None or blocked.term == self.term

    # --- faults ----------------------------------------------------------------

    def _changed(self) -> None:
        self._reconsider()
        self.on_change()

    def stall(self, names, stalled: bool) -> None:
        for m in names:
            self.members[m].stalled = stalled
        if not stalled and self.leader in names and self.members[self.leader].leads:
            # its lessor timer is overdue: it looks for expired leases at once,
            # before it reads a single request that queued meanwhile
            self.members[self.leader].phase = self.clock() % LESSOR_TICK
            self._lessor_tick()
        self._changed()

    def kill(self, m: str) -> None:
        member = self.members[m]
        member.up, member.stalled, member.leads = False, False, False
        if self.leader == m:
            if self._gave_up == self.term:
                self.leader = None      # its followers had given up on it already
            self._retick(self.clock())
        self._changed()

    def restart(self, m: str) -> None:
        member = self.members[m]
        member.up, member.lost_at, member.booted = True, None, self.clock()
        if self.leader == m:            # it starts as a follower: whoever campaigns first leads
            self.leader = None
            if self._loss is not None:
                self._loss.cancel()
                self._loss = None
        self._changed()

    def isolate(self, m: str, cut: bool) -> None:
        """Cut `m` off from (or back to) every other member."""
        for o in self.names:
            if o != m:
                (self.cut_members.add if cut else self.cut_members.discard)(frozenset((m, o)))
        self._changed()

    def split(self, cut: bool) -> None:
        """Every member cut off from every other (or healed)."""
        for a in self.names:
            for b in self.names:
                if a < b:
                    (self.cut_members.add if cut else self.cut_members.discard)(frozenset((a, b)))
        self._changed()

    def links_changed(self) -> None:
        self._changed()

    def set_fsync(self, seconds: float) -> None:
        self.fsync = seconds
        self._changed()

    def compact(self) -> None:
        self.etcd.compact()
        self.note(f"compacted at revision {self.etcd.compacted}")
        self._changed()

    def role(self, which: str) -> str:
        """'leader' or 'follower' (a running one, the first after the leader), or a member's name."""
        if which in self.members:
            return which
        leader = self.leader or self.names[0]
        if which == "leader":
            return leader
        others = [m for m in self.names if m != leader]
        return next((m for m in others if self.members[m].up), others[0] if others else leader)


__all__ = ["SimCluster", "Blocked", "Abandoned", "Call", "ELECTION_TIMEOUT", "LESSOR_TICK", "REFUSED", "LINK",
           "QUEUED", "WAIT", "LOST", "DELAY", "ANSWER"]
