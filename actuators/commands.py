"""Run one argv command for an action: no shell, own process group, hard timeout.

Every command starts a new session (its own process group), so a timeout can
kill the command together with everything it spawned. On a normal exit the
group is left alone: an exec `start` command may legitimately leave a daemon.
"""
from __future__ import annotations

import asyncio
import os
import signal
import tempfile
from dataclasses import dataclass
from typing import Optional, Sequence

from overseer.desired.child_user import Credentials, check_runnable

from .base import ActuatorError, ActuatorTimeout

# Output goes to anonymous temp files, not pipes: in Python 3.11 asyncio's
# wait() also waits for the pipes to close, and a daemon left behind by a
# `start` command would hold them open forever.
_OUTPUT_LIMIT = 64 * 1024


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


def describe_status(returncode: int) -> str:
    """'exited 3' or 'killed by SIGSEGV' (asyncio reports signals as -N)."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"killed by {name}"
    return f"exited {returncode}"


def first_line(*texts: str) -> str:
    for text in texts:
        for line in text.splitlines():
            if line.strip():
                return line.strip()
    return ""


def kill_group(pgid: int, sig: int = signal.SIGKILL) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass  # the group is already gone (or was reaped and reused: not ours)


def _read_head(tmp) -> str:
    tmp.seek(0)
    return tmp.read(_OUTPUT_LIMIT).decode(errors="replace")


async def _spawn(argv: Sequence[str], env: dict[str, str], cwd: str | None,
                 service: str, action: str, out, err,
                 user: Optional[Credentials]) -> asyncio.subprocess.Process:
    try:
        if user is not None:
            check_runnable(argv[0], env, cwd)   # setpriv's own exec would only exit 127
        return await asyncio.create_subprocess_exec(
            *(user.wrap(argv) if user is not None else argv), env=env, cwd=cwd, stdin=asyncio.subprocess.DEVNULL,
            stdout=out, stderr=err, start_new_session=True,
        )
    except FileNotFoundError as exc:
        missing = exc.filename or argv[0]
        raise ActuatorError(service, action, f"not found: {missing} (check the path, "
                            "or that the working directory exists)", argv) from None
    except PermissionError:
        raise ActuatorError(service, action, "permission denied (is it executable?)",
                            argv) from None
    except OSError as exc:  # ENOEXEC (no #!), ENOTDIR (bad cwd), EAGAIN/ENOMEM on fork...
        raise ActuatorError(service, action, f"cannot start: {exc.strerror or exc}", argv) from None


async def run_command(argv: Sequence[str], *, env: dict[str, str], timeout: float,
                      service: str, action: str, cwd: str | None = None,
                      check: bool = True, user: Optional[Credentials] = None) -> CommandResult:
    """Run argv (as `user`, without capabilities; None: as the agent); raise
    ActuatorTimeout after `timeout` s (group killed) and, with `check`,
    ActuatorError on a non-zero exit naming the first stderr line."""
    argv = tuple(argv)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = await _spawn(argv, env, cwd, service, action, out, err, user)
        await _wait_or_kill(proc, argv, timeout, service, action)
        result = CommandResult(argv, proc.returncode, _read_head(out), _read_head(err))
    if check and result.returncode != 0:
        detail = first_line(result.stderr, result.stdout)
        reason = describe_status(result.returncode) + (f": {detail}" if detail else "")
        raise ActuatorError(service, action, reason, argv)
    return result


async def _wait_or_kill(proc: asyncio.subprocess.Process, argv: tuple[str, ...],
                        timeout: float, service: str, action: str) -> None:
    try:
        await asyncio.wait_for(proc.wait(), timeout)
    except asyncio.TimeoutError:
        kill_group(proc.pid)
        await proc.wait()
        raise ActuatorTimeout(service, action, f"timed out after {timeout:g}s; "
                              "killed its process group", argv) from None
    except BaseException:
        kill_group(proc.pid)  # cancelled: leave nothing running behind us
        raise
