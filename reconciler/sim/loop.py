"""An asyncio event loop on virtual time, that can freeze one simulated process.

When nothing is ready to run, the clock jumps to the next timer: a 5 s lease
costs no real time. There are no threads and no I/O: `run_in_executor` (and so
`asyncio.to_thread`) raises, so a real blocking call left in the agent's path
shows up as an error instead of silently breaking determinism.

Every simulated process (an agent incarnation, the fencer beside it) runs in
its own `contextvars.Context` carrying `PROCESS`; tasks and callbacks inherit
it. `freeze(key)` holds back every callback of that process (SIGSTOP), `thaw`
releases them in order (SIGCONT), `kill` drops them for good (kill -9).

Each server may have a clock of its own (`set_rate`): inside that server's
processes `time()` reads its monotonic clock, and `call_at` takes a moment on
it, as the kernel's timers do; a rate other than 1 is a crystal running fast
or slow. The world (etcd, the network, the checker) lives on the global clock
(`global_time`, `call_at_global`, `sleep_global`). A process key names its
server before the `#`: `s1#2`, `s1#2/io`.
"""
from __future__ import annotations

import asyncio
import contextvars
import heapq
import inspect
from collections import deque
from typing import Any, Optional

PROCESS: contextvars.ContextVar[Optional[str]] = contextvars.ContextVar("sim_process", default=None)


def server_of(key: Optional[str]) -> Optional[str]:
    return key.split("#", 1)[0] if key else None


class Clock:
    """One server's monotonic clock: `rate` local seconds per global second
    since the global moment `since`, when it read `read`."""

    def __init__(self, rate: float, since: float, read: float) -> None:
        self.rate, self.since, self.read = rate, since, read

    def local(self, t: float) -> float:
        return self.read + (t - self.since) * self.rate

    def global_(self, local: float) -> float:
        return self.since + (local - self.read) / self.rate


class _Handle(asyncio.Handle):
    """asyncio's Handle without its debug bookkeeping (this loop never runs in
    debug mode): made for every callback, so its cost is the simulator's."""
    __slots__ = ()

    def __init__(self, callback, args, loop, context=None):
        self._context = contextvars.copy_context() if context is None else context
        self._loop, self._callback, self._args = loop, callback, args
        self._cancelled, self._repr, self._source_traceback = False, None, None

    def cancel(self) -> None:
        if not self._cancelled:
            self._cancelled = True
            self._callback = self._args = None


class _TimerHandle(asyncio.TimerHandle):
    """asyncio's TimerHandle, made and cancelled as _Handle is (the loop keeps
    no count of cancelled timers: it drops them as they reach the top)."""
    __slots__ = ()

    def __init__(self, when, callback, args, loop, context=None):
        self._context = contextvars.copy_context() if context is None else context
        self._loop, self._callback, self._args = loop, callback, args
        self._cancelled, self._repr, self._source_traceback = False, None, None
        self._when, self._scheduled = when, False

    def cancel(self) -> None:
        if not self._cancelled:
            self._cancelled = True
            self._callback = self._args = None


class Deadlock(RuntimeError):
    """Nothing is ready and no timer is due: the run can never progress."""


class VirtualLoop(asyncio.BaseEventLoop):
    def __init__(self, start: float = 1000.0) -> None:
        super().__init__()
        self._now = start
        self._frozen: dict[str, deque] = {}
        self._killed: set[str] = set()
        self._graveyard: list = []   # a killed process's callbacks: kept, so its tasks are never GC'd mid-run
        self._clocks: dict[str, Clock] = {}
        self.steps = 0

    # --- the clocks -----------------------------------------------------------

    def time(self) -> float:
        """The clock of the process running now (asyncio's timers read it)."""
        if self._clocks:
            clock = self._clocks.get(server_of(PROCESS.get()))
            if clock is not None:
                return clock.local(self._now)
        return self._now

    def global_time(self) -> float:
        return self._now

    def local_time(self, server: str) -> float:
        clock = self._clocks.get(server)
        return self._now if clock is None else clock.local(self._now)

    def global_of(self, server: str, local: float) -> float:
        """The global moment `server`'s clock reads `local`."""
        clock = self._clocks.get(server)
        return local if clock is None else clock.global_(local)

    def call_at(self, when, callback, *args, context=None):
        # `when` is on the caller's clock: it came from the caller's time()
        if self._clocks:
            clock = self._clocks.get(server_of(PROCESS.get()))
            if clock is not None:
                when = clock.global_(when)
        return self._timer(when, callback, args, context)

    def call_at_global(self, when, callback, *args, context=None):
        return self._timer(when, callback, args, context)

    def _timer(self, when, callback, args, context) -> asyncio.TimerHandle:
        """asyncio's call_at, its heap holding (when, handle): the float is
        compared in C, and where two are equal the handles decide as they did
        alone (TimerHandle.__lt__: False), so the heap orders timers exactly as
        a heap of handles would."""
        if when is None:
            raise TypeError("when cannot be None")
        timer = _TimerHandle(when, callback, args, self, context)
        heapq.heappush(self._scheduled, (when, timer))
        timer._scheduled = True
        return timer

    def call_soon(self, callback, *args, context=None):
        handle = _Handle(callback, args, self, context)
        self._ready.append(handle)
        return handle

    def sleep_global(self, delay: float) -> asyncio.Future:
        """A future done `delay` global seconds from now (a physical delay:
        a packet in flight), whoever waits for it."""
        future = self.create_future()
        self.call_at_global(self._now + delay, _done, future)
        return future

    def set_rate(self, server: str, rate: float) -> None:
        """From now on `server`'s clock runs at `rate`. Its pending timers were
        set on its clock: they move with it (a kernel timer waits for its
        clock, not for global time)."""
        old = self._clocks.get(server) or Clock(1.0, self._now, self._now)
        new = Clock(rate, self._now, old.local(self._now))
        self._clocks[server] = new
        entries = []
        for _, handle in self._scheduled:
            context = handle._context
            if context is not None and server_of(context.get(PROCESS)) == server:
                handle._when = new.global_(old.local(handle._when))
            entries.append((handle._when, handle))
        self._scheduled[:] = entries
        heapq.heapify(self._scheduled)

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
        for handle in self._frozen.pop(key, ()):
            self._bury(handle)

    def _bury(self, handle: asyncio.Handle) -> None:
        """A killed process's callback never runs. It is kept, so its tasks are
        never GC'd mid-run; a task whose first step it was never begins: its
        coroutine is closed, as kill -9 discards work not begun (closing a
        coroutine that never started runs none of it; left open, it would
        warn "never awaited" when the run is over)."""
        self._graveyard.append(handle)
        _close_if_unbegun(handle)

    def end(self) -> None:
        """The run is over: every process stops where it stands, as at power-off.
        Tasks whose first step was still due (ready, or held by a frozen
        process) never begin; what had begun unwinds when it is collected."""
        for handle in (*self._ready, *(h for held in self._frozen.values() for h in held)):
            _close_if_unbegun(handle)

    def is_frozen(self, key: str) -> bool:
        return key in self._frozen

    def is_killed(self, key: str) -> bool:
        return key in self._killed

    # --- no threads, no I/O -------------------------------------------------

    def run_in_executor(self, executor: Any, func: Any, *args: Any) -> asyncio.Future:
        raise RuntimeError(f"simulation: a real thread was asked for ({func!r}); "
                           "every blocking call must go through the agent's Edges")

    # asyncio asks at every future, task and handle made; this loop never runs
    # in debug mode, and bool() answers False without a Python frame
    get_debug = staticmethod(bool)

    def _check_closed(self) -> None:
        pass  # after a run, abandoned coroutines unwinding at GC may still schedule: let them

    def _write_to_self(self) -> None:
        pass  # call_soon_threadsafe from our own (only) thread needs no wake-up

    def _process_events(self, event_list: Any) -> None:
        pass

    # --- one iteration ----------------------------------------------------------

    def _run_once(self) -> None:
        """Iterations of asyncio's loop until it is asked to stop: run_forever
        would only call back after each one to ask (one call per iteration
        saved; a seed takes over ten thousand)."""
        scheduled, ready, killed, frozen = self._scheduled, self._ready, self._killed, self._frozen
        heappop, popleft = heapq.heappop, ready.popleft
        while True:
            while scheduled and scheduled[0][1]._cancelled:
                heappop(scheduled)[1]._scheduled = False
            self._timer_cancelled_count = 0
            if not ready:
                if not scheduled:
                    if self._stopping:
                        return
                    raise Deadlock("simulation: nothing ready and no timer scheduled")
                if scheduled[0][0] > self._now:
                    self._now = scheduled[0][0]
            now = self._now
            while scheduled and scheduled[0][0] <= now:
                handle = heappop(scheduled)[1]
                handle._scheduled = False
                ready.append(handle)
            steps = 0
            for _ in range(len(ready)):
                handle = popleft()
                if handle._cancelled:
                    continue
                context = handle._context
                key = context.get(PROCESS) if context is not None else None
                if key is not None:
                    if key in killed:
                        self._bury(handle)
                        continue
                    held = frozen.get(key)
                    if held is not None:
                        held.append(handle)
                        continue
                steps += 1
                handle._run()
            self.steps += steps
            if self._stopping:
                return


def _close_if_unbegun(handle: asyncio.Handle) -> None:
    # a task's steps are its bound method (the C task's wrapper has __self__ too)
    task = getattr(handle._callback, "__self__", None)
    if isinstance(task, asyncio.Task):
        coro = task.get_coro()
        if inspect.iscoroutine(coro) and inspect.getcoroutinestate(coro) == inspect.CORO_CREATED:
            coro.close()


def _done(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)
