"""An agent's role reports, written so that an older one never lands over a newer one.

The master reads a server's role report to know whether it stood down from
an assignment (reconciler/planner/health.py). A report write sent into a cut
link may be given up by the agent (a timeout, or `LatestSink.resend` on a
new lease) and still reach etcd later: TCP delivers what the kernel had
queued after the client closed the socket. Landing over a newer report, it
left the master reading a step-down from an older assignment, which answers
nothing, while the agent waited for the master's answer to the newer one:
the service was never placed again. So each write compares the key's value
with the one this agent last knew there: a late write compares with a value
that is gone and changes nothing. The store learns the value it lost to and
raises `ReportMoved`; the sink sends its newest report again at once.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from .chunks import MAX_BYTES, chunked
from .errors import Conflict


class ReportMoved(Conflict):
    """A report key no longer held the value this agent last knew there (an
    older write of its own landed late, or an operator deleted it): nothing
    was written, and the next write compares with what is there now."""


@dataclass(frozen=True)
class ReportWrite:
    key: bytes
    value: bytes
    was: Optional[bytes]    # what we last knew at the key (None: absent)

    def __iter__(self):
        return iter((self.key, self.value, self.was))


@dataclass(frozen=True)
class ReportWrites:
    """Reports to write with what each must replace, taken before the call:
    a request carries the compare it was sent with, whatever we learn later."""
    values: tuple[tuple[bytes, bytes], ...]
    was: tuple[Optional[bytes], ...]

    def items(self) -> list[ReportWrite]:
        return [ReportWrite(k, v, w) for (k, v), w in zip(self.values, self.was)]


def _compare(tx, key: bytes, was: Optional[bytes]):
    # A key never written by us yet is taken as absent: if it is not, the
    # write fails once and we learn its value.
    return tx.version(key) == 0 if was is None else tx.value(key) == was


class OwnReports:
    """What this agent last knew at each of its report keys."""

    def __init__(self) -> None:
        self.known: dict[bytes, Optional[bytes]] = {}

    def prepare(self, items: list[tuple[str, str]]) -> ReportWrites:
        values = tuple((key.encode(), value.encode()) for key, value in items)
        return ReportWrites(values, tuple(self.known.get(key) for key, _ in values))

    def put(self, transaction, tx, writes: ReportWrites) -> None:
        """Write through `transaction(compare=, success=, failure=)`."""
        # each put comes with a compare and a read of about its size
        for chunk in chunked([[w] for w in writes.items()], max_bytes=MAX_BYTES // 3):
            keys = [key for key, _, _ in chunk]
            ok, responses = transaction(compare=[_compare(tx, key, was) for key, _, was in chunk],
                                        success=[tx.put(key, value) for key, value, _ in chunk],
                                        failure=[tx.get(key) for key in keys])
            if not ok:
                self._lost(keys, responses)
                raise ReportMoved(f"a role report in etcd is not the one this agent last wrote there "
                                  f"({len(keys)} reports not written); sending the newest again")
            for key, value, _ in chunk:
                self.known[key] = value

    def _lost(self, keys: list[bytes], responses: list) -> None:
        """The failure branch read every key: remember what is there now."""
        for key, rows in zip(keys, responses):
            self.known[key] = rows[0][0] if rows else None
