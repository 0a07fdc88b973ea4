"""Spawn a supervised child that cannot outlive the agent.

The child gets its own session/process group (so stop and timeout reach all
of it) and PR_SET_PDEATHSIG=SIGKILL, set in preexec_fn between fork and exec.
Linux delivers the parent-death signal when the *thread* that forked the child
exits, so spawn from the agent's long-lived event-loop thread, never from a
short-lived worker thread.
"""
from __future__ import annotations

import asyncio
import ctypes
import os
import signal
from typing import IO, Sequence

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def pdeathsig_preexec(parent_pid: int):
    """A preexec_fn: the child gets SIGKILL when the thread that forked it exits."""
    def preexec() -> None:
        if _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            os._exit(127)
        # The parent may have died between fork and prctl: then the signal
        # will never come, so leave now rather than run as an orphan.
        if os.getppid() != parent_pid:
            os._exit(127)
    return preexec


async def spawn_supervised(argv: Sequence[str], *, env: dict[str, str], cwd: str | None,
                           output: IO[bytes] | None) -> asyncio.subprocess.Process:
    """Start argv in a new process group that dies with this process.

    `output` receives stdout and stderr; None lets the child inherit ours.
    Raises FileNotFoundError/PermissionError/NotADirectoryError from exec.
    """
    return await asyncio.create_subprocess_exec(
        *argv, env=env, cwd=cwd, stdin=asyncio.subprocess.DEVNULL,
        stdout=output, stderr=output, start_new_session=True,
        preexec_fn=pdeathsig_preexec(os.getpid()),
    )
