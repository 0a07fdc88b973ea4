"""Death detection for services the agent does not run as its child (exec, systemd).

After each of its own steps that leaves the service running (a successful
start, promote or demote) the actuator finds the service's main process
(main_pid.py) and holds a pidfd on it (pidfd.py). When that process exits,
`on_exit` is called at once: the same call a supervised child's exit makes
(actuators/process.py), so the agent reports the death without waiting for a
probe. While a step of ours runs there is no watch: a stop, or a demote that
restarts the service, ends the process on purpose.

The pid is resolved again only after a step, never when a watch fires: the
pidfd is bound to the process, so a pid reused by another process cannot
fool it. Not found at once (a daemon still writing its pidfile), it is asked
again, backing off, until the actuator's timeout; then the checks alone
watch the service, and `not_watched` says why.
"""
from __future__ import annotations

import asyncio
import logging
import os
import shlex
import subprocess
from typing import Optional, Sequence

from overseer.desired.checks import Match

from .commands import first_line
from .main_pid import MainProcess, NotWatched, NotYet, parse_main_pid, resolve, started_at
from .pidfd import ExitWatch, PidfdUnavailable

log = logging.getLogger(__name__)
FIRST_RETRY, MOST_RETRY = 0.02, 1.0   # seconds between looks for a main process not found yet


class DeathWatch:
    """Mixin of the exec and systemd actuators (`service`, `spec`, `on_exit`, `systemctl`)."""

    systemctl = "systemctl"
    _follow: tuple[tuple[str, Match], ...] = ()
    _watch: Optional[ExitWatch] = None
    _arming: Optional[asyncio.Task] = None
    watched: Optional[MainProcess] = None
    not_watched = ""   # why nothing is watched, once that is known

    def follow(self, checks: Sequence) -> None:
        """The service's checks: its critical `process` checks with a match name its main process."""
        self._follow = tuple((c.name, c.match) for c in checks
                             if c.type == "process" and c.critical and c.match is not None)

    @property
    def followed(self) -> tuple[str, ...]:
        """The checks whose process the watch follows: its exit fails them at once."""
        return tuple(name for name, _ in self._follow)

    def _watch_matches(self) -> list[Match]:
        return [match for _, match in self._follow]

    async def _step(self, action: str, coro):
        """Run one of our steps with the watch dropped; after a successful one
        that leaves the service running, watch again. After a failed step the
        worker steps again (or stops), and watches from that step on."""
        self._unwatch()
        result = await coro
        if action != "stop":
            self._rewatch()
        return result

    def _unwatch(self) -> None:
        if self._arming is not None:
            self._arming.cancel()
            self._arming = None
        if self._watch is not None:
            self._watch.close()
            self._watch = None
        self.watched = None

    def _rewatch(self) -> None:
        matches = self._watch_matches()
        if not matches:
            self.not_watched = "no process check names the service's process"
            return
        self.not_watched = ""
        self._arming = asyncio.get_running_loop().create_task(
            self._arm(matches), name=f"overseer-watch-{self.service}")

    async def _arm(self, matches: list[Match]) -> None:
        loop = asyncio.get_running_loop()
        deadline, delay = loop.time() + self.spec.timeout, FIRST_RETRY
        while True:
            try:
                self._open(await resolve(matches, self._main_pid_of))
                return
            except NotYet as exc:
                reason = exc.reason
            except (NotWatched, PidfdUnavailable) as exc:
                self._give_up(str(exc))
                return
            if loop.time() + delay > deadline:
                self._give_up(f"{reason} (still, {self.spec.timeout:g}s after the step)")
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, MOST_RETRY)

    def _open(self, main: MainProcess) -> None:
        try:
            watch = ExitWatch(main.pid, lambda pid: self._main_exited(main))
        except ProcessLookupError:
            raise NotYet(f"{main.what} exited before it could be watched") from None
        try:
            same = started_at(main.pid) == main.started
        except NotYet:
            same = False
        if not same:   # the pid changed hands since it was resolved
            watch.close()
            raise NotYet(f"{main.what} was replaced before it could be watched")
        self._watch, self.watched, self.not_watched = watch, main, ""
        log.info("%s: watching %s for its exit", self.service, main.what)

    def _give_up(self, reason: str) -> None:
        self.not_watched = reason
        log.warning("%s: not watching the main process (its exit is seen by the checks only): %s",
                    self.service, reason)

    def _main_exited(self, main: MainProcess) -> None:
        self._watch, self.watched = None, None
        message = f"{self.service}: main process {main.what} exited"
        callback = self.on_exit
        if callback is not None:
            try:
                callback(self.service, None, message)   # not our child: its status is not ours to read
            except Exception:  # the agent's bug must not go unseen
                log.exception("on_exit callback failed for %s", self.service)

    async def _main_pid_of(self, unit: str) -> int:
        # a blocking run in a thread, not an asyncio child: a watch being set
        # up when the agent's loop closes is then simply abandoned
        argv = (self.systemctl, "show", "-p", "MainPID", "--value", unit)
        env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")}
        try:
            result = await asyncio.to_thread(subprocess.run, argv, env=env, capture_output=True, text=True,
                                             timeout=self.spec.timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise NotYet(f"{shlex.join(argv)}: {exc}") from None
        if result.returncode != 0:
            raise NotYet(f"systemctl show {unit}: {first_line(result.stderr, result.stdout) or 'failed'}")
        return parse_main_pid(result.stdout, unit)

    async def close(self) -> None:
        self._unwatch()
