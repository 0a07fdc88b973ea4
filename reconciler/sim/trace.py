"""The run's trace: the world's events and every agent's own log lines, as
one text stamped with virtual seconds and the simulated process that wrote
each line. Log records at ERROR with an exception, and any CRITICAL, are
reported to the checker as crashes whether the lines are kept or not."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from .loop import PROCESS

if TYPE_CHECKING:
    from .world import World


class Trace:
    """The run's story: the world's events and every agent's own log lines,
    stamped with virtual time and the simulated process that wrote them."""

    def __init__(self, keep_logs: bool = True):
        self.lines: list[str] = []
        self.keep_logs = keep_logs

    def event(self, t: float, who: str, text: str) -> None:
        self.lines.append(f"{t:8.3f} {who:<8} {text}")

    def capture(self, world: World) -> logging.Handler:
        trace = self

        class _Handler(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                who = (PROCESS.get() or "world").split("/")[0]
                text = record.getMessage()
                if record.exc_info and record.levelno >= logging.ERROR:
                    world.checker.violation("crash", f"{who}: {text}: {record.exc_info[1]!r}")
                if record.levelno >= logging.CRITICAL:
                    world.checker.violation("crash", f"{who}: {text}")
                if trace.keep_logs:
                    trace.lines.append(f"{world.now():8.3f} {who:<8} {record.levelname[0]} {record.name.split('.')[-1]}: {text}")

        handler = _Handler(logging.INFO)
        root = logging.getLogger("overseer")
        self._saved = (root.level, root.propagate)
        root.setLevel(logging.INFO)
        root.propagate = False
        root.addHandler(handler)
        return handler

    def release(self, handler: logging.Handler) -> None:
        root = logging.getLogger("overseer")
        root.removeHandler(handler)
        root.setLevel(self._saved[0])
        root.propagate = self._saved[1]

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"
