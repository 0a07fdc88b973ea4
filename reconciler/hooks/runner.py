"""Running notification hooks off the critical path: worker threads, a bounded queue.

`submit` never blocks: a full queue drops the job with a log line. A few
worker threads run each job's command and/or webhook, each with its own
attempts (a timeout per attempt, 1 s, 2 s, 4 s... between them), so a hook
that hangs holds at most one worker for `attempts x timeout` and never the
agent's event loop, its actuators or a failover. A command with a `user`
runs as that user, without capabilities. Every outcome (ok / failed:
reason / timed out) is logged with service and epoch and handed to `record`
(the agent writes it to history, kind `hook`). A webhook is sent by
webhook.py, whose messages never hold the URL's path, query or user.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import queue
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

from overseer.actuators.child import pdeathsig_preexec, supervised_argv
from overseer.desired.child_user import Credentials, RunAsError, check_runnable, credentials
from overseer.desired.hooks import Hook

from ..metrics import HOOK_RUNS
from . import webhook
from .events import HookEvent

log = logging.getLogger(__name__)

QUEUE_SIZE = 64
WORKERS = 3
BACKOFF = 1.0        # before the second attempt; doubles, at most BACKOFF_MAX
BACKOFF_MAX = 30.0
_OUTPUT = 4096


@dataclass(frozen=True)
class HookOutcome:
    event: HookEvent
    kind: str            # "command" | "webhook"
    outcome: str         # "ok" | "failed" | "timed out"
    detail: str          # why it failed, "" when ok
    attempts: int        # attempts made

    def message(self) -> str:
        what = f"hook {self.event.event} ({self.kind}) on {self.event.server}"
        tries = f"after {self.attempts} attempt{'s' if self.attempts > 1 else ''}"
        if self.outcome == "ok":
            return f"{what}: ok" + (f" ({tries})" if self.attempts > 1 else "")
        return f"{what}: {self.outcome} {tries}: {self.detail}"


class _Timeout(Exception):
    pass


class _Failed(Exception):
    pass


class _Stopped(_Failed):
    pass


def _kill_group(proc: subprocess.Popen) -> None:
    # its own session: the whole group goes, whatever it spawned
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class _Running:
    """The hook commands running now, so that a stopping agent can end them."""

    def __init__(self):
        self._procs: set[subprocess.Popen] = set()
        self._lock = threading.Lock()
        self.stopping = False

    def add(self, proc: subprocess.Popen) -> None:
        with self._lock:
            self._procs.add(proc)
            stopping = self.stopping
        if stopping:   # started while the agent was stopping: it would outlive the drain
            _kill_group(proc)

    def discard(self, proc: subprocess.Popen) -> None:
        with self._lock:
            self._procs.discard(proc)

    def kill_all(self) -> int:
        with self._lock:
            self.stopping = True
            procs = list(self._procs)
        for proc in procs:
            _kill_group(proc)
        return len(procs)


def _spawn(argv: Sequence[str], env: dict[str, str], user: Optional[Credentials], err) -> subprocess.Popen:
    # dies with the agent's hook thread, so a kill -9 of the agent ends it too
    # (as another user: setpriv sets that signal again after the switch, and
    # sh checks the agent is still there, as for a supervised child)
    if user is not None:
        check_runnable(argv[0], env, None)   # the wrapper's own exec would only exit 127
        argv = supervised_argv(argv, os.getpid(), user)
    return subprocess.Popen(list(argv), env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=err, start_new_session=True, preexec_fn=pdeathsig_preexec(os.getpid()))


def _run_command(hook: Hook, event: HookEvent, running: _Running) -> None:
    argv, timeout = hook.command, hook.timeout
    try:
        user = credentials(hook)
    except RunAsError as exc:
        raise _Failed(f"not run: {exc.where()}: {exc.reason}") from None
    env = event.env(account=user.env() if user is not None else None)
    with tempfile.TemporaryFile() as err:
        try:
            proc = _spawn(argv, env, user, err)
        except OSError as exc:
            raise _Failed(f"cannot start {argv[0]}: {exc.strerror or exc}") from None
        except subprocess.SubprocessError as exc:   # the preexec step failed (parent gone)
            raise _Failed(f"cannot start {argv[0]}: {exc}") from None
        running.add(proc)
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            proc.wait()
            raise _Timeout(f"timed out after {timeout:g}s; killed its process group") from None
        finally:
            running.discard(proc)
        if running.stopping and code == -signal.SIGKILL:
            raise _Stopped("killed: the agent stopped")
        if code != 0:
            err.seek(0)
            line = next((ln.strip() for ln in err.read(_OUTPUT).decode(errors="replace").splitlines()
                         if ln.strip()), "")
            status = f"killed by signal {-code}" if code < 0 else f"exited {code}"
            raise _Failed(status + (f": {line}" if line else ""))


def _post(hook: Hook, body: dict) -> None:
    data = json.dumps(body, separators=(",", ":")).encode()
    try:
        webhook.deliver(hook.webhook, data, hook.timeout, hook.headersFile)
    except webhook.TimedOut as exc:
        raise _Timeout(str(exc)) from None
    except webhook.Failed as exc:
        raise _Failed(str(exc)) from None


class HookRunner:
    def __init__(self, record: Callable[[HookOutcome, Sequence[str]], None] = lambda o, s: None,
                 queue_size: int = QUEUE_SIZE, workers: int = WORKERS, backoff: float = BACKOFF):
        self.record, self.backoff, self.workers = record, backoff, workers
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._busy = 0
        self._lock = threading.Lock()
        self._running = _Running()

    def _start(self) -> None:
        # lazily: an agent whose documents name no hook runs no extra threads
        with self._lock:
            while len(self._threads) < self.workers:
                thread = threading.Thread(target=self._work, name=f"hooks-{len(self._threads)}", daemon=True)
                thread.start()
                self._threads.append(thread)

    def submit(self, event: HookEvent, hook: Hook, services: Sequence[str] = ()) -> bool:
        """Queue `hook`'s command and webhook for `event`, each a job of its own
        (a hung command never holds back the webhook); False (and a log line)
        when the queue had no room for one of them."""
        self._start()
        kinds = [kind for kind, part in (("command", hook.command), ("webhook", hook.webhook)) if part is not None]
        queued = True
        for kind in kinds:
            try:
                self._queue.put_nowait((event, hook, kind, tuple(services) or (event.service,)))
            except queue.Full:
                log.warning("%s: hook %s (%s, epoch %d) dropped: %d hooks already queued",
                            event.service or "cluster", event.event, kind, event.epoch, self._queue.maxsize)
                HOOK_RUNS.labels(event.event, "dropped").inc()
                queued = False
        return queued

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                job = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            with self._lock:
                self._busy += 1
            try:
                self._run(*job)
            except Exception:  # a bug here must not end the worker
                log.exception("hook %s failed unexpectedly", job[0].event)
            finally:
                with self._lock:
                    self._busy -= 1
                self._queue.task_done()

    def _run(self, event: HookEvent, hook: Hook, kind: str, services: Sequence[str]) -> None:
        if kind == "command":
            attempt = lambda: _run_command(hook, event, self._running)  # noqa: E731
        else:
            attempt = lambda: _post(hook, event.body())  # noqa: E731
        outcome = self._attempts(event, kind, attempt, hook.attempts)
        HOOK_RUNS.labels(event.event, outcome.outcome).inc()
        level = logging.INFO if outcome.outcome == "ok" else logging.WARNING
        log.log(level, "%s: %s (epoch %d)", event.service or "cluster", outcome.message(), event.epoch)
        try:
            self.record(outcome, services)
        except Exception as exc:  # history is best effort; the log line stands
            log.warning("%s: hook outcome not recorded: %s", event.service or "cluster", exc)

    def _attempts(self, event: HookEvent, kind: str, attempt: Callable[[], None], attempts: int) -> HookOutcome:
        delay, outcome, detail = self.backoff, "failed", ""
        for n in range(1, attempts + 1):
            try:
                attempt()
                return HookOutcome(event, kind, "ok", "", n)
            except _Timeout as exc:
                outcome, detail = "timed out", str(exc)
            except _Stopped as exc:
                return HookOutcome(event, kind, "failed", str(exc), n)
            except _Failed as exc:
                outcome, detail = "failed", str(exc)
            if n < attempts and self._stop.wait(delay):
                return HookOutcome(event, kind, outcome, detail + "; agent stopping", n)
            delay = min(delay * 2, BACKOFF_MAX)
        return HookOutcome(event, kind, outcome, detail, attempts)

    def idle(self) -> bool:
        with self._lock:
            return self._busy == 0 and self._queue.empty()

    async def drain(self, timeout: float) -> None:
        """Agent shutdown: let queued hooks finish for up to `timeout` s, then stop
        retrying and kill the commands still running (they would outlive us)."""
        deadline = time.monotonic() + timeout
        while not self.idle() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        self._stop.set()
        killed = self._running.kill_all()
        if killed:
            log.warning("agent stopping: killed %d hook command%s still running after %gs",
                        killed, "s" if killed > 1 else "", timeout)


class NoHooks:
    """The simulator's runner: no threads, no processes; hooks are not part of its model."""

    def submit(self, event: HookEvent, hook: Hook, services: Sequence[str] = ()) -> bool:
        return False

    async def drain(self, timeout: float) -> None:
        return None
