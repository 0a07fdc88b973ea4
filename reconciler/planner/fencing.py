"""Fence agents in the plan: a dead server with a `fence` command is powered
off before anyone takes over what it may still run.

Self-fencing (the agent's deadline, the fencer process) covers a server
whose agent runs, or whose agent alone is stuck. A server frozen whole (a
paused VM, a hung host) runs its services again when it thaws, before its
agent or fencer can act. So for a server whose Server document has `fence`,
being dead long enough (lease expiry + failoverMargin) is not enough to
count as fenced: its fence agent must also have succeeded in this outage
(`fence/<server>` says ok, or an operator confirmed). Until then the plan
holds the move and asks for the fence (`FenceServer`), once per attempt: a
running attempt is waited for (up to its timeout, after which it counts as
lost with its master), a failed one is retried after a back-off computed
from its end, 1 s, 2 s, 4 s ... up to 30 s. Servers without `fence` count
as fenced once their margin passed, as always.

A record in the snapshot always speaks of the current outage: the master
writes one only while the server has no `servers/<name>` record, and the
server's registration deletes it in the same transaction.
"""
from __future__ import annotations

from typing import Mapping, Optional

from overseer.desired.models import ServerDoc
from overseer.desired.state import FenceOutcome, FenceRecord

RETRY_FIRST = 1.0    # seconds after the first failed attempt ended
RETRY_CAP = 30.0     # the longest wait between attempts
LOST_AFTER = 5.0     # a pending attempt this long past its timeout died with its master


def retry_delay(attempt: int) -> float:
    """Seconds between the end of failed attempt `attempt` and the next one."""
    return min(RETRY_FIRST * 2 ** max(attempt - 1, 0), RETRY_CAP)


class Fencing:
    """The fence state of every server for one plan, judged at its `now`."""

    def __init__(self, servers: Mapping[str, ServerDoc], records: Mapping[str, FenceRecord], now: float):
        self.servers, self.records, self.now = servers, records, now

    def configured(self, server: str) -> bool:
        doc = self.servers.get(server)
        return doc is not None and doc.spec.fence is not None

    def done(self, server: str) -> bool:
        """Nothing stands between this dead server and a move: it has no fence
        agent, or it is known to be off in this outage."""
        if not self.configured(server):
            return True
        record = self.records.get(server)
        return record is not None and record.off

    def next_at(self, server: str) -> Optional[float]:
        """When the next attempt may start (now or earlier: due), for a server
        that is configured and not yet off; None when it is done."""
        if self.done(server):
            return None
        record = self.records.get(server)
        if record is None:
            return self.now
        if record.outcome == FenceOutcome.PENDING:
            return record.started + record.timeout + LOST_AFTER
        return record.time + retry_delay(record.attempt)

    def due(self, server: str) -> Optional[int]:
        """The attempt to start now (1, 2, ...), or None: done, running, or backing off."""
        at = self.next_at(server)
        if at is None or at > self.now:
            return None
        record = self.records.get(server)
        return record.attempt + 1 if record is not None else 1

    def words(self, server: str) -> str:
        """How the fence of a dead server stands, for a reason line ('' if none)."""
        if not self.configured(server):
            return ""
        record = self.records.get(server)
        if record is None:
            return ""
        why = f": {record.message}" if record.message else ""
        if record.outcome == FenceOutcome.OK:
            return f"fenced by its fence agent in {max(record.time - record.started, 0.0):.1f}s"
        if record.outcome == FenceOutcome.CONFIRMED:
            return "fence confirmed by an operator"
        if record.outcome == FenceOutcome.PENDING:
            return f"fence agent running (attempt {record.attempt})"
        return f"fence attempt {record.attempt} failed{why}"
