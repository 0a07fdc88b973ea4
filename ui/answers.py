"""Rendered answers kept per snapshot: one render per change, not one per request.

Every open board tab polls its fragment once a second, and a timeline or
history answer of a large cluster takes a noticeable part of a second to
build. An answer is built once for a snapshot (the live `SnapshotCache`
reads etcd once per revision) and served to every request that asks for the
same thing until the snapshot changes, or until the moment the answer says
time alone changes it (`valid_until`: a failure memory's countdown, the
timeline's moving right edge). Concurrent requests for an answer being built
wait for that build instead of starting their own.

Only the current snapshot's answers are kept, at most `max_bytes` of them
(least recently used go first), so odd query strings cannot fill memory.
Each answer carries an ETag: the live page sends it back and gets 304 when
nothing changed, so an unchanged timeline costs no bytes either.
"""
from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Hashable, Optional

MAX_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Answer:
    body: bytes
    mimetype: str
    etag: str
    valid_until: float = math.inf   # wall-clock time after which time alone makes it wrong

    @classmethod
    def of(cls, body: bytes, mimetype: str, valid_until: float = math.inf) -> "Answer":
        return cls(body, mimetype, hashlib.blake2b(body, digest_size=12).hexdigest(), valid_until)


@dataclass
class _Building:
    done: threading.Event
    answer: Optional[Answer] = None


class AnswerCache:
    def __init__(self, max_bytes: int = MAX_BYTES):
        self.max_bytes = max_bytes
        self.builds = 0                  # answers built so far (tests and benches read it)
        self._lock = threading.Lock()
        self._snapshot: object = None
        self._answers: OrderedDict[Hashable, Answer] = OrderedDict()
        self._building: dict[Hashable, _Building] = {}
        self._bytes = 0

    def get(self, snapshot: object, key: Hashable, now: float, build: Callable[[], Answer]) -> Answer:
        """The answer for `key` on `snapshot`, built by `build()` only when not kept."""
        with self._lock:
            self._follow(snapshot)
            kept = self._answers.get(key)
            if kept is not None and now < kept.valid_until:
                self._answers.move_to_end(key)
                return kept
            # per snapshot: a request on a newer one must not take an older one's answer
            pending = (id(snapshot), key)   # the builder holds the snapshot: its id is not reused
            building = self._building.get(pending)
            mine = building is None
            if mine:
                building = self._building[pending] = _Building(threading.Event())
        if not mine:
            building.done.wait()
            if building.answer is not None and now < building.answer.valid_until:
                return building.answer
            return build()   # the build we waited for failed, or is already out of date
        try:
            answer = build()
            building.answer = answer
        finally:
            with self._lock:
                self.builds += 1
                del self._building[pending]
                if building.answer is not None and self._snapshot is snapshot:
                    self._keep(key, building.answer)
            building.done.set()
        return answer

    def _follow(self, snapshot: object) -> None:
        # A new snapshot makes every kept answer old: drop them all at once.
        if snapshot is not self._snapshot:
            self._snapshot = snapshot
            self._answers.clear()
            self._bytes = 0

    def _keep(self, key: Hashable, answer: Answer) -> None:
        old = self._answers.pop(key, None)
        if old is not None:
            self._bytes -= len(old.body)
        if len(answer.body) > self.max_bytes:
            return
        self._answers[key] = answer
        self._bytes += len(answer.body)
        while self._bytes > self.max_bytes:
            _, dropped = self._answers.popitem(last=False)
            self._bytes -= len(dropped.body)
