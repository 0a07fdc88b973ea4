"""`overseer status --watch`: follow the cluster, and say so when the view is stale.

A reader thread re-reads etcd on every change (Store.watch) and at least
every RESYNC seconds; the screen is drawn by the main thread from the last
successful read, so an etcd that stalls (a read that hangs until its timeout,
or fails) never freezes the screen: it keeps the last data and a STALE line
with the age of that data and the error, until a read succeeds again. On a
terminal the frame is redrawn every second (the ages move); into a pipe, a
frame is written on new data and when the view turns stale or fresh again.
With `--json`, one compact document per successful read, the outage on stderr.
Ctrl-C (or SIGTERM) ends it with status 0.
"""
from __future__ import annotations

import contextlib
import faulthandler
import json
import signal
import sys
import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional

import click

from overseer.desired.store.client import StoreError
from overseer.reconciler.status_view import build_status

from .table import ago

RESYNC = 5.0        # seconds between re-reads even without events
STALE_AFTER = 2 * RESYNC   # data older than this is stale even while a read is still under way
TICK = 1.0          # seconds between redraws on a terminal
CLOSE_LIMIT = 5.0   # seconds closing the etcd connection may take after Ctrl-C


@dataclass
class Frame:
    status: Optional[dict] = None
    read_at: float = 0.0            # wall time of the last successful read
    error: Optional[str] = None     # why the latest read failed (None: it succeeded)
    reads: int = 0                  # successful reads so far


class Reading:
    """The reader thread's latest result, handed to the drawing thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._frame = Frame()

    def succeeded(self, status: dict, at: float) -> None:
        with self._lock:
            self._frame = Frame(status, at, None, self._frame.reads + 1)

    def failed(self, why: str) -> None:
        with self._lock:
            f = self._frame
            self._frame = Frame(f.status, f.read_at, why, f.reads)

    def latest(self) -> Frame:
        with self._lock:
            return self._frame


def is_stale(frame: Frame, now: float) -> bool:
    return frame.error is not None or frame.reads == 0 or now - frame.read_at > STALE_AFTER


def stale_line(frame: Frame, now: float) -> str:
    why = f"etcd: {frame.error}" if frame.error else "etcd has not answered yet"
    if frame.reads == 0:
        return f"STALE: no successful read from etcd yet ({why}); retrying"
    return (f"STALE: data as of {time.strftime('%H:%M:%S', time.localtime(frame.read_at))} "
            f"({ago(frame.read_at, now)}; {why}); retrying")


def compose(frame: Frame, now: float, render: Callable[[dict, float], str]) -> str:
    """One text frame: the last data, marked STALE at top and bottom when it is."""
    stale = is_stale(frame, now)
    body = render(frame.status, now) if frame.status is not None else ""
    if not stale:
        return f"{body}\n\n(updated {time.strftime('%H:%M:%S', time.localtime(frame.read_at))}; Ctrl-C to stop)"
    line = stale_line(frame, now)
    return f"{line}\n\n{body}\n\n{line}" if body else line


def _read(store, reading: Reading, stop: threading.Event, changed: threading.Event) -> None:
    while not stop.is_set():
        try:
            reading.succeeded(build_status(store.snapshot(), time.time()), time.time())
        except StoreError as exc:
            reading.failed(str(exc))
        changed.wait(timeout=1.0 if reading.latest().error else RESYNC)
        changed.clear()
        stop.wait(0.05)  # coalesce a burst of changes into one frame


def watch(store, render: Callable[[dict, float], str], as_json: bool) -> None:
    stop, changed = threading.Event(), threading.Event()
    reading = Reading()
    try:
        with _ctrl_c_sets(stop, wake=changed.set):
            cancel = store.watch(changed.set)
            reader = threading.Thread(target=_read, args=(store, reading, stop, changed),
                                      name="status reader", daemon=True)
            reader.start()
            try:
                _draw(reading, render, as_json, stop)
            finally:
                cancel()
    finally:
        _close_within(store, CLOSE_LIMIT)


def _draw(reading: Reading, render, as_json: bool, stop: threading.Event) -> None:
    tty = sys.stdout.isatty()
    shown: tuple = ()
    started = time.time()
    while not stop.is_set():
        now = time.time()
        frame = reading.latest()
        if frame.reads == 0 and frame.error is None and now - started < STALE_AFTER:
            stop.wait(0.05)   # the first read is under way: nothing to show yet, and nothing stale
            continue
        stale = is_stale(frame, now)
        key = (frame.reads, stale)
        if as_json:
            if frame.reads and key[0] != (shown[0] if shown else 0):
                click.echo(json.dumps(frame.status, separators=(",", ":")))
            if stale and frame.error and (not shown or not shown[1]):
                click.echo(f"overseer: {frame.error} (retrying)", err=True)  # one line per outage
        elif tty or key != shown:
            if tty:
                click.echo("\x1b[H\x1b[2J", nl=False)  # clear the screen between frames
            click.echo(compose(frame, now, render))
        if key != shown:
            sys.stdout.flush()
        shown = key
        stop.wait(TICK if tty or stale else 0.2)


@contextlib.contextmanager
def _ctrl_c_sets(stop: threading.Event, wake: Callable[[], None]):
    """Turn Ctrl-C (and SIGTERM) into `stop` instead of a KeyboardInterrupt.

    A KeyboardInterrupt can land anywhere: inside gRPC's wait for a watch
    response or inside a lock of the old gRPC client's watcher, and closing the channel
    afterwards then waited for a call nobody would finish (seen once in CI:
    `status --watch` ignored Ctrl-C for 10 s). A flag is read between calls."""
    def handler(signum, frame):
        # Not Event.set here: the main thread may hold that event's lock right
        # now, and a handler runs on the main thread. A thread can wait for it.
        threading.Thread(target=lambda: (stop.set(), wake()), daemon=True).start()
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _close_within(store, limit: float) -> None:
    """Closing waits for gRPC to finish its calls; should that ever hang after
    Ctrl-C, print every thread's stack and exit rather than ignore the operator."""
    try:
        faulthandler.dump_traceback_later(limit, exit=True, file=sys.stderr)
    except (AttributeError, ValueError, OSError):  # no real stderr (a test runner's)
        store.close()
        return
    try:
        store.close()
    finally:
        faulthandler.cancel_dump_traceback_later()
