"""The `process` actuator: the agent itself runs and supervises the service.

`command` is spawned as a child in its own process group that dies with the
agent (see child.py), as the spec's `user` when it names one. A watcher task
awaits the child's exit and calls `on_exit` at once when it dies without
being asked to, so a crash is seen in milliseconds instead of at the next
probe. Stop sends `stopSignal` to the
group, waits `timeout`, then SIGKILLs the group.
"""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
from typing import IO

from overseer.desired.child_user import RunAsError
from overseer.desired.models import ProcessActuator as ProcessSpec

from .base import ActionContext, Actuator, ActuatorError
from .hooks import CommandHooks
from .child import spawn_supervised
from .commands import describe_status, kill_group

log = logging.getLogger(__name__)
LOG_MODE = 0o640


class SupervisedProcessActuator(CommandHooks, Actuator):
    def __init__(self, service: str, spec: ProcessSpec, log_dir: str | None = None) -> None:
        self.service = service
        self.spec = spec
        self.log_dir = log_dir
        self.on_exit = None
        self._proc: asyncio.subprocess.Process | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._stopping_pid: int | None = None
        # start/stop/close never interleave: a start during a slow stop would
        # otherwise see the dying child as alive and do nothing.
        self._lock = asyncio.Lock()

    def _alive(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    def child_pid(self) -> int | None:
        return self._proc.pid if self._alive() else None

    async def running(self, ctx: ActionContext) -> bool:
        return self._alive()

    def _open_log(self) -> IO[bytes] | None:
        if self.log_dir is None:
            return None
        os.makedirs(self.log_dir, exist_ok=True)
        # 0640: a service's output may hold what it should not tell every
        # local user (a dial string, a token in a URL); the child writes
        # through this descriptor, whatever user it runs as
        fd = os.open(os.path.join(self.log_dir, f"{self.service}.log"),
                     os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, LOG_MODE)
        return os.fdopen(fd, "ab")

    async def start(self, ctx: ActionContext) -> None:
        async with self._lock:
            await self._start(ctx)

    async def _start(self, ctx: ActionContext) -> None:
        if self._alive():
            return  # idempotent: the agent may converge the same state twice
        argv = self.spec.command
        user = self._user("start")
        output = self._open_log()
        try:
            proc = await spawn_supervised(argv, env=self._command_env(ctx, user),
                                          cwd=self.spec.workingDir, output=output, user=user)
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise ActuatorError(self.service, "start", f"not found: {exc.filename or argv[0]} "
                                "(check command and workingDir)", argv) from None
        except PermissionError as exc:
            raise ActuatorError(self.service, "start", f"permission denied: {exc}", argv) from None
        except (OSError, subprocess.SubprocessError) as exc:  # ENOEXEC, EAGAIN, a failed preexec...
            raise ActuatorError(self.service, "start", f"cannot start: {exc}", argv) from None
        except RunAsError as exc:   # setpriv missing
            raise ActuatorError(self.service, "start", f"{exc.where('spec.actuator')}: {exc.reason}",
                                argv) from None
        finally:
            if output is not None:
                output.close()  # the child holds its own copy of the descriptor
        self._proc = proc
        self._stopping_pid = None
        self._watcher = asyncio.get_running_loop().create_task(
            self._watch(proc), name=f"overseer-child-{self.service}-{proc.pid}")

    async def _watch(self, proc: asyncio.subprocess.Process) -> None:
        returncode = await proc.wait()
        if self._stopping_pid == proc.pid:
            return  # we asked for this exit; stop() reports on it
        message = (f"{self.service}: supervised child {proc.pid} "
                   f"({self.spec.command[0]}) {describe_status(returncode)}")
        callback = self.on_exit
        if callback is not None:
            try:
                callback(self.service, returncode, message)
            except Exception:  # the agent's bug must not kill the watcher silently
                log.exception("on_exit callback failed for %s", self.service)
        # Whatever the dead leader left in its group is orphaned service state
        # (ports, locks); clear it so a restart or a new active is not blocked.
        kill_group(proc.pid)

    async def stop(self, ctx: ActionContext) -> None:
        async with self._lock:
            await self._terminate()

    async def _terminate(self) -> None:
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        self._stopping_pid = proc.pid
        kill_group(proc.pid, signal.Signals[self.spec.stopSignal])
        try:
            await asyncio.wait_for(proc.wait(), self.spec.timeout)
        except asyncio.TimeoutError:
            log.warning("%s: child %d ignored %s for %gs; sending SIGKILL", self.service,
                        proc.pid, self.spec.stopSignal, self.spec.timeout)
            kill_group(proc.pid)
            await proc.wait()
        kill_group(proc.pid)  # stragglers of the group after the leader left
        if self._watcher is not None:
            await self._watcher

    def _extra_env(self) -> dict[str, str]:
        return self.spec.env

    def _command_cwd(self) -> str | None:
        return self.spec.workingDir

    async def close(self) -> None:
        async with self._lock:
            await self._terminate()
