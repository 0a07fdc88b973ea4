"""`/api/v1/history` in pages: newest first, at most `MAX_LIMIT` entries an answer.

Pure. The order is total and does not depend on a position in a list, so a
cursor stays valid while new entries arrive and old ones are trimmed: newest
first, then by service name, then, for entries of one service at the very
same instant, in the order they were written (newest first). A cursor names
the last entry of a page; the next page starts after it. `before` (epoch
seconds) starts at entries strictly older than that moment, `since` stops at
entries older than it.

A snapshot keeps each service's entries oldest first (their etcd keys are
their times), so a page needs no sort of the whole history: each service's
list is cut at the cursor by binary search and the lists are merged newest
first until the page is full. A page costs about the number of services
plus the entries it walks, whatever the history's size.
"""
from __future__ import annotations

import base64
import binascii
import heapq
import json
from bisect import bisect_left, bisect_right
from typing import Callable, Iterator, Mapping, Optional, Sequence

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000

Key = tuple[float, str, int]   # (-time, service, same-instant rank): ascending = newest first


class BadQuery(ValueError):
    """A parameter of the history query that cannot be used; the message says the fix."""


def encode_cursor(key: Key) -> str:
    raw = json.dumps([-key[0], key[1], key[2]], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str) -> Key:
    try:
        t, service, rank = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        if not isinstance(service, str) or not isinstance(rank, int) or isinstance(t, bool):
            raise TypeError("wrong types")
        return (-float(t), service, rank)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise BadQuery(f"cursor={text!r} is not one this API gave out (take `next` from an answer): {exc}") \
            from None


def parse_limit(text: Optional[str]) -> int:
    if text is None or text == "":
        return DEFAULT_LIMIT
    try:
        limit = int(text)
    except ValueError:
        raise BadQuery(f"limit={text!r}: a whole number from 1 to {MAX_LIMIT}") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise BadQuery(f"limit={limit}: from 1 to {MAX_LIMIT}; page on with `cursor` (the answer's `next`)")
    return limit


def parse_time(name: str, text: Optional[str], example: float) -> Optional[float]:
    if text is None or text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if value != value or value in (float("inf"), float("-inf")):
        raise BadQuery(f"{name}={text!r}: epoch seconds, e.g. {name}={int(example)}")
    return value


def _time(entry) -> float:
    return entry.time


def _end(entries: Sequence, service: str, cursor: Optional[Key], before: Optional[float]) -> int:
    """How many of the service's oldest entries come after the cursor (and before `before`)."""
    end = len(entries)
    if before is not None:
        end = bisect_left(entries, before, key=_time)
    if cursor is not None:
        t, after, rank = -cursor[0], cursor[1], cursor[2]
        lo, hi = bisect_left(entries, t, key=_time), bisect_right(entries, t, key=_time)
        if service < after:
            end = min(end, lo)            # the cursor's instant: only later services' entries follow
        elif service == after:
            end = min(end, max(lo, hi - 1 - rank))   # rank r of an instant sits at hi - 1 - r
        else:
            end = min(end, hi)
    return end


def _newest_first(service: str, entries: Sequence, end: int) -> Iterator[tuple[Key, object]]:
    rank, previous = 0, None
    for i in range(end - 1, -1, -1):
        entry = entries[i]
        if entry.time == previous:
            rank += 1
        else:
            # the first met of an instant may have newer twins past `end` (earlier pages)
            rank = bisect_right(entries, entry.time, key=_time) - 1 - i
            previous = entry.time
        yield (-entry.time, service, rank), entry


def page(history: Mapping[str, Sequence], limit: int, *, service: Optional[str] = None,
         cursor: Optional[Key] = None, before: Optional[float] = None, since: Optional[float] = None,
         keep: Callable[[object], bool] = lambda e: True) -> tuple[list, Optional[str]]:
    """At most `limit` entries that `keep`, and the cursor of the next page (None: no more)."""
    names = [service] if service is not None else sorted(history)
    streams = []
    for name in names:
        entries = history.get(name, ())
        end = _end(entries, name, cursor, before)
        if end:
            streams.append(_newest_first(name, entries, end))
    found: list = []
    last: Optional[Key] = None
    for key, entry in heapq.merge(*streams, key=lambda pair: pair[0]):
        if since is not None and -key[0] < since:
            break
        if not keep(entry):
            continue
        if len(found) == limit:
            return found, encode_cursor(last)   # one more exists: there is a next page
        found.append(entry)
        last = key
    return found, None
