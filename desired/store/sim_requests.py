"""What one client request meets at one simulated etcd member, and the links
between servers and members.

- **Members.** A killed member refuses connections; a stopped one (SIGSTOP)
  accepts them and answers nothing until it resumes, then handles what
  queued. A member without a usable leader answers no linearizable read and
  no renewal (they wait for a leader); a write sent to it is forwarded to the
  leader it knew, or, once its own election timeout passed, dropped at once
  ("raft proposal dropped": Rejected, no failover).
- **fsync.** A raft write waits for the next save (sim_raft.py), a
  linearizable read for the save in progress; renewals do not wait. The
  etcd of 3.5.13 and later also checks its leadership before a renewal when
  its raft loop is busy: not modelled.
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

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from .errors import Rejected, StoreError
from .sim_lessor import Lessor
from .sim_raft import Raft

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


class Requests:
    def __init__(self, raft: Raft, lessor: Lessor, clock: Callable[[], float]):
        self.raft, self.lessor, self.clock = raft, lessor, clock
        self.cut_servers: set[str] = set()         # servers cut off from every member
        self.blocked: set[tuple[str, str]] = set()  # (from, to): packets that way are dropped
        self.silent = False                        # every server cut off (etcd keeps running)
        self._call: Optional[Call] = None

    # --- links ----------------------------------------------------------------

    def path(self, src: str, dst: str) -> bool:
        server = dst if src in self.raft.members else src
        return not self.silent and server not in self.cut_servers and (src, dst) not in self.blocked

    def streams(self, member: str, server: str) -> bool:
        """A watch on `member` delivers to `server` (it applies what commits)."""
        return self.raft.served(member) and self.path(member, server)

    def reaches(self, server: str, endpoints: Optional[tuple[str, ...]] = None) -> bool:
        """A request from `server` gets an answer from some member: `path` both
        ways and `served`, spelled out (the checker asks at every sample)."""
        if self.silent or server in self.cut_servers:
            return False
        blocked, served = self.blocked, self.raft.served
        for m in endpoints or self.raft.names:
            if (server, m) not in blocked and (m, server) not in blocked and served(m):
                return True
        return False

    # --- what one request meets --------------------------------------------------

    def _outcome(self, server: str, m: str, kind: str, lease: Optional[int], granted: bool):
        raft = self.raft
        member, now = raft.members[m], self.clock()
        if not self.path(server, m):
            return LINK, None
        if not member.up:
            return (REFUSED if self.path(m, server) else LINK), None
        if member.stalled:
            return QUEUED, None
        if kind == "status":
            return "ok", None
        if kind == "renew":
            return ("ok" if self.lessor.answers_renewal(m, lease, now) else WAIT), None
        if raft.served(m):
            until = raft.read_at(now) if kind == "read" else (now if granted else raft.commit_at(now))
            return ("ok", None) if granted or until <= now else (DELAY, until)
        if kind == "read":
            return WAIT, None
        if now >= member.drops_at and not member.leads:
            return "dropped", None
        leader = raft.leader
        if leader is not None and raft.members[leader].up and raft.linked(m, leader) and (
                member.leads or raft.members[leader].leads):
            return WAIT, raft.term      # forwarded (or in the leader's log): commits if its term lasts
        return LOST, None

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
        return blocked.kind != WAIT or blocked.term is None or blocked.term == self.raft.term
