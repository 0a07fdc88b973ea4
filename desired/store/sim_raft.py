"""The simulated etcd's raft: its members, who leads, elections, and the disk.

Kept to etcd 3.4/3.5 (raft with PreVote and CheckQuorum, both on by default):
- **Leader.** A leader serves while it runs and hears a majority. A stopped or
  killed leader, or one cut off from the majority, is replaced once the
  followers' randomized election timeout (1-2 x ELECTION_TIMEOUT) passes, if
  a majority of running members can hear each other; a leader cut off alone
  steps down then (CheckQuorum). With PreVote, a stopped leader whose
  followers could not elect anyone leads on when it resumes: no election.
  A new leader's lessor extends every lease (`on_elected`: sim_lessor.py).
- **Members.** A killed member refuses connections; a stopped one (SIGSTOP)
  accepts them and answers nothing until it resumes. A member without a
  usable leader starts its own randomized election timeout; once it passed,
  the member drops proposals (what a request meets: sim_requests.py).
- **fsync.** With a slow disk every raft write waits for the next save to
  finish (saves run back to back, one fsync each, and batch what arrived
  meanwhile); a linearizable read waits for the save in progress.

`changed` is the cluster's: after any change of leadership it reconsiders
every member (`reconsider`) and wakes the requests waiting on the network.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Callable, Optional

ELECTION_TIMEOUT = 1.0     # etcd's --election-timeout default (seconds)


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


class Raft:
    def __init__(self, names: tuple[str, ...], phases: dict[str, float], rng: random.Random,
                 clock: Callable[[], float], at: Callable[..., Any], note: Callable[[str], None],
                 changed: Callable[[], None]):
        self.rng, self.clock, self.at, self.note, self.changed = rng, clock, at, note, changed
        self.names = names
        self.members = {n: Member(n, phases[n]) for n in names}
        self.leader: Optional[str] = rng.choice(names)
        self.members[self.leader].leads = True
        self.term = 1
        self.fsync = 0.0
        self._save = (0.0, 0.0)            # the latest save: (start, end)
        self.cut_members: set[frozenset] = set()   # member pairs that cannot hear each other
        self._loss = self._election = None
        self._gave_up: Optional[int] = None    # the term whose stopped leader the followers gave up on
        self.on_elected: Callable[[float], None] = lambda now: None   # the lessor's Promote

    # --- who can do what ------------------------------------------------------

    def alive(self, m: str) -> bool:
        member = self.members[m]
        return member.up and not member.stalled

    def linked(self, a: str, b: str) -> bool:
        # asked for every request and every sample: most of the time nothing is cut
        return a == b or not self.cut_members or frozenset((a, b)) not in self.cut_members

    def _quorum_with(self, leader: str) -> bool:
        heard = 0
        for m in self.names:
            if self.alive(m) and self.linked(m, leader):
                heard += 1
        return heard > len(self.names) // 2

    def usable(self, leader: Optional[str]) -> bool:
        return (leader is not None and self.alive(leader) and self.members[leader].leads
                and self._quorum_with(leader))

    def served(self, m: str) -> bool:
        """m answers linearizable requests: it runs and hears a leader that can commit."""
        return self.alive(m) and self.usable(self.leader) and self.linked(m, self.leader)

    def _quorum_group(self, without: Optional[str] = None) -> list[str]:
        """Running members that can elect one of them (a majority hearing each other)."""
        for m in self.names:
            if m == without or not self.alive(m):
                continue
            group = [o for o in self.names if o != without and self.alive(o) and self.linked(o, m)]
            if len(group) > len(self.names) // 2 and all(self.linked(a, b) for a in group for b in group):
                return group
        return []

    # --- elections --------------------------------------------------------------

    def reconsider(self) -> None:
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
        self.changed()

    def _elect(self) -> None:
        self._election = None
        if self.leader is not None and self.usable(self.leader):
            return
        group = self._quorum_group(without=self.leader)
        if group:
            self._become_leader(self.rng.choice(group))
        else:
            self.changed()

    def _become_leader(self, new: str) -> None:
        now = self.clock()
        for member in self.members.values():
            member.leads = False
        self.leader, self.term = new, self.term + 1
        self.members[new].leads = True
        self.note(f"{new} elected leader (term {self.term}): every lease runs {ELECTION_TIMEOUT:g}s + its TTL"
                  " from now")
        self.on_elected(now)
        self.changed()

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

    def read_at(self, now: float) -> float:
        """A linearizable read waits for the raft loop: the save in progress."""
        start, end = self._save
        return start if now < start else (end if now < end else now)

    def commit(self, fn, *args) -> None:
        now = self.clock()
        until = self.commit_at(now)
        if until <= now:
            fn(*args)
        else:
            self.at(until, fn, *args)

    # --- faults (the cluster calls `changed` after each) --------------------------------

    def stall(self, names, stalled: bool) -> bool:
        """SIGSTOP (or SIGCONT) `names`; True if the leader resumes as leader."""
        for m in names:
            self.members[m].stalled = stalled
        return not stalled and self.leader in names and self.members[self.leader].leads

    def kill(self, m: str) -> bool:
        """Kill -9 `m`; True if it was the leader (its lessor stops)."""
        member = self.members[m]
        member.up, member.stalled, member.leads = False, False, False
        if self.leader != m:
            return False
        if self._gave_up == self.term:
            self.leader = None      # its followers had given up on it already
        return True

    def restart(self, m: str) -> None:
        member = self.members[m]
        member.up, member.lost_at, member.booted = True, None, self.clock()
        if self.leader == m:            # it starts as a follower: whoever campaigns first leads
            self.leader = None
            if self._loss is not None:
                self._loss.cancel()
                self._loss = None

    def cut(self, pairs, cut: bool) -> None:
        """Members of each pair cannot hear each other (or can again)."""
        for pair in pairs:
            (self.cut_members.add if cut else self.cut_members.discard)(frozenset(pair))

    def role(self, which: str) -> str:
        """'leader' or 'follower' (a running one, the first after the leader), or a member's name."""
        if which in self.members:
            return which
        leader = self.leader or self.names[0]
        if which == "leader":
            return leader
        others = [m for m in self.names if m != leader]
        return next((m for m in others if self.members[m].up), others[0] if others else leader)
