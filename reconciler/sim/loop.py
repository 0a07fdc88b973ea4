"""An asyncio event loop on virtual time, that can freeze one simulated process.

When nothing is ready to run, the clock jumps to the next timer: a 5 s lease
costs no real time. There are no threads and no I/O: `run_in_executor` (and so
`asyncio.to_thread`) raises, so a real blocking call left in the agent's path
shows up as an error instead of silently breaking determinism.

Every simulated process (an agent incarnation, the fencer beside it) runs in
its own `contextvars.Context` carrying `PROCESS`; tasks and callbacks inherit
it. `freeze(key)` holds back every callback of that process (SIGSTOP), `thaw`
releases them in order (SIGCONT), `kill` drops them for good (kill -9).
"""
from __future__ import annotations

import asyncio
import contextvars
import heapq
from collections import deque
from typing import Any, Optional

PROCESS: contextvars.ContextVar[Optional[str]] = contextvars.ContextVar("sim_process", default=None)


class Deadlock(RuntimeError):
    """Nothing is ready and no timer is due: the run can never progress."""


class VirtualLoop(asyncio.BaseEventLoop):
    def __init__(self, start: float = 1000.0) -> None:
        super().__init__()
        self._now = start
        self._frozen: dict[str, deque] = {}
        self._killed: set[str] = set()
        self._graveyard: list = []   # a killed process's callbacks: kept, so its tasks are never GC'd mid-run
        self.steps = 0

    # --- the clock ------------------------------------------------------------

    def time(self) -> float:
        return self._now

    # --- processes ------------------------------------------------------------

    def context_for(self, key: str) -> contextvars.Context:
        ctx = contextvars.Context()
        ctx.run(PROCESS.set, key)
        return ctx

    def freeze(self, key: str) -> None:
        self._frozen.setdefault(key, deque())

    def thaw(self, key: str) -> None:
        held = self._frozen.pop(key, None)
        if held:
            self._ready.extend(held)

    def kill(self, key: str) -> None:
        self._killed.add(key)
        self._graveyard.extend(self._frozen.pop(key, ()))

    def is_frozen(self, key: str) -> bool:
        return key in self._frozen

    def is_killed(self, key: str) -> bool:
        return key in self._killed

    # --- no threads, no I/O -------------------------------------------------

    def run_in_executor(self, executor: Any, func: Any, *args: Any) -> asyncio.Future:
        raise RuntimeError(f"simulation: a real thread was asked for ({func!r}); "
                           "every blocking call must go through the agent's Edges")

    def _check_closed(self) -> None:
        pass  # after a run, abandoned coroutines unwinding at GC may still schedule: let them

    def _write_to_self(self) -> None:
        pass  # call_soon_threadsafe from our own (only) thread needs no wake-up

    def _process_events(self, event_list: Any) -> None:
        pass

    # --- one iteration ----------------------------------------------------------

    def _run_once(self) -> None:
        scheduled = self._scheduled
        while scheduled and scheduled[0]._cancelled:
            handle = heapq.heappop(scheduled)
            handle._scheduled = False
        self._timer_cancelled_count = 0
        if not self._ready:
            if not scheduled:
                if self._stopping:
                    return
                raise Deadlock("simulation: nothing ready and no timer scheduled")
            self._now = max(self._now, scheduled[0]._when)
        while scheduled and scheduled[0]._when <= self._now:
            handle = heapq.heappop(scheduled)
            handle._scheduled = False
            self._ready.append(handle)
        for _ in range(len(self._ready)):
            handle = self._ready.popleft()
            if handle._cancelled:
                continue
            key = handle._context.get(PROCESS) if handle._context is not None else None
            if key is not None:
                if key in self._killed:
                    self._graveyard.append(handle)
                    continue
                held = self._frozen.get(key)
                if held is not None:
                    held.append(handle)
                    continue
            self.steps += 1
            handle._run()
