"""Hysteresis: raw probe results in, an effective ok/warn/fail/unknown out.

Pure state machine (no clock, no I/O), so it can be tested exhaustively.
Rules, with F = failAfter and R = recoverAfter:

- Start `unknown`. The first `ok` result turns it `ok` at once, so a fresh
  healthy service is green without waiting; bad news needs F in a row.
- `fail` only after F consecutive `fail` results.
- `warn` after F consecutive results at warn-or-worse (warn, warn, fail
  counts) while the status is better than that.
- Back from `warn`/`fail` to `ok` after R consecutive `ok` results; from
  `fail` to `warn` after R consecutive results better than `fail` that were
  not all `ok` (the last R contain a warn).
- A raw `unknown` (the probe itself could not judge) is kept in the history
  but leaves every counter and the status as they were.
- `force_fail()` sets `fail` at once (a dead supervised child is not a blip).
The last `kept` raw results are kept for the board, oldest first.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Optional

_RANK = {"ok": 0, "warn": 1, "fail": 2}


@dataclass(frozen=True)
class Pending:
    """A change under way: `target` after `needed` results, `seen` so far."""
    target: str
    seen: int
    needed: int


class Hysteresis:
    def __init__(self, fail_after: int, recover_after: int, kept: int = 30) -> None:
        if fail_after < 1 or recover_after < 1:
            raise ValueError("failAfter and recoverAfter must be at least 1")
        self.fail_after, self.recover_after = fail_after, recover_after
        self.status = "unknown"
        self.results: deque = deque(maxlen=max(1, kept))
        self._fails = 0        # consecutive fail results
        self._bad = 0          # consecutive warn-or-fail results
        self._oks = 0          # consecutive ok results
        self._not_fail = 0     # consecutive ok-or-warn results

    def feed(self, status: str, t: float = 0.0, value: Optional[float] = None) -> str:
        """Add one raw result; return the effective status after it."""
        self.results.append((t, status, value))
        if status not in _RANK:
            return self.status
        self._count(status)
        self.status = self._next(status)
        return self.status

    def _count(self, status: str) -> None:
        ok, fail = status == "ok", status == "fail"
        self._oks = self._oks + 1 if ok else 0
        self._fails = self._fails + 1 if fail else 0
        self._bad = 0 if ok else self._bad + 1
        self._not_fail = 0 if fail else self._not_fail + 1

    def _next(self, status: str) -> str:
        current = self.status
        if self._fails >= self.fail_after:
            return "fail"
        if status == "ok" and (current == "unknown" or self._oks >= self.recover_after):
            return "ok"
        if current == "fail" and self._not_fail >= self.recover_after:
            return "warn"
        if current in ("ok", "unknown") and self._bad >= self.fail_after:
            return "warn"
        return current

    def force_fail(self) -> None:
        """`fail` now, and counted as if F failures had been seen."""
        self.status = "fail"
        self._fails = self._bad = self.fail_after
        self._oks = self._not_fail = 0

    def reset(self) -> None:
        """Forget everything (the check stopped running here)."""
        self.status = "unknown"
        self._fails = self._bad = self._oks = self._not_fail = 0
        self.results.clear()

    def pending(self) -> Optional[Pending]:
        """What the current streak is heading for, if it differs from the status."""
        if not self.results or self.results[-1][1] not in _RANK:
            return None
        last = self.results[-1][1]
        if last == "ok" and self.status in ("warn", "fail"):
            return Pending("ok", self._oks, self.recover_after)
        if last == "fail" and self.status != "fail":
            return Pending("fail", self._fails, self.fail_after)
        if last == "warn" and self.status in ("ok", "unknown"):
            return Pending("warn", self._bad, self.fail_after)
        if last == "warn" and self.status == "fail":
            return Pending("warn", self._not_fail, self.recover_after)
        return None
