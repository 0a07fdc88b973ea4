"""Spawn a supervised child that cannot outlive the agent.

The child gets its own session/process group (so stop and timeout reach all
of it) and PR_SET_PDEATHSIG=SIGKILL. Linux delivers the parent-death signal
when the *thread* that forked the child exits, so spawn from the agent's
long-lived event-loop thread, never from a short-lived worker thread.

The signal is set by `setpriv --pdeathsig KILL` (util-linux, on every Debian)
in front of the command, then a `sh` checks that its parent is still the
agent (the agent may have died before the prctl) and execs the command under
the same pid. Setting it in a Python `preexec_fn` instead rules out vfork:
every start then forked the whole agent, 15 ms of the event loop each at
~150 MB (0.6 ms with vfork), and starting 300 actives after a failover took
7 s (bench/scale.py). Without setpriv the preexec_fn is still used. A
missing or non-executable command is found before the spawn, so the error
still names it.
"""
from __future__ import annotations

import asyncio
import errno
import functools
import os
import shutil
import signal
import sys
from typing import IO, Sequence

_PR_SET_PDEATHSIG = 1


@functools.lru_cache(maxsize=1)
def _libc():
    # loaded on first use, in the parent: only the preexec path needs it (where
    # setpriv is missing), and ctypes is a quarter MB of every agent otherwise
    import ctypes  # noqa: PLC0415
    return ctypes.CDLL(None, use_errno=True)


def pdeathsig_preexec(parent_pid: int):
    """A preexec_fn: the child gets SIGKILL when the thread that forked it exits."""
    libc = _libc()   # before the fork: nothing may be imported between fork and exec

    def preexec() -> None:
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            os._exit(127)
        # The parent may have died between fork and prctl: then the signal
        # will never come, so leave now rather than run as an orphan.
        if os.getppid() != parent_pid:
            os._exit(127)
    return preexec


def wait_for_children_on_the_loop() -> None:
    """Call once before the agent's event loop starts.

    On Python 3.11 asyncio waits for each child in a thread of its own
    (ThreadedChildWatcher): 300 actives, 300 threads, each started with a GIL
    handshake on the event loop and holding its own stack. A pidfd watcher
    (Linux 5.3+) waits for them on the event loop itself, as Python 3.12 and
    later do by default."""
    if sys.version_info >= (3, 12) or not hasattr(os, "pidfd_open"):
        return
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError:
        return   # an older kernel: keep the threaded watcher
    asyncio.set_child_watcher(asyncio.PidfdChildWatcher())


SETPRIV = shutil.which("setpriv")
# $0 is the agent's pid: a parent that is not the agent any more means it died
# before setpriv's prctl, and the signal would never come
_STILL_OURS = 'test "$PPID" = "$0" && exec "$@"; exit 127'


def _check_runnable(program: str, env: dict[str, str], cwd: str | None) -> None:
    """Raise what exec would: the wrapper's own exec would only exit 127."""
    if "/" in program:
        path = program if os.path.isabs(program) or cwd is None else os.path.join(cwd, program)
        if not os.path.exists(path):
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), program)
        if os.path.isdir(path) or not os.access(path, os.X_OK):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), program)
    elif shutil.which(program, path=env.get("PATH", os.defpath)) is None:
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), program)


def supervised_argv(argv: Sequence[str], parent_pid: int) -> list[str]:
    """argv behind setpriv and the parent check (the child keeps one pid throughout)."""
    return [SETPRIV, "--pdeathsig", "KILL", "--", "/bin/sh", "-c", _STILL_OURS, str(parent_pid), *argv]


async def spawn_supervised(argv: Sequence[str], *, env: dict[str, str], cwd: str | None,
                           output: IO[bytes] | None) -> asyncio.subprocess.Process:
    """Start argv in a new process group that dies with this process.

    `output` receives stdout and stderr; None lets the child inherit ours.
    Raises FileNotFoundError/PermissionError/NotADirectoryError as exec would.
    """
    common = dict(env=env, cwd=cwd, stdin=asyncio.subprocess.DEVNULL, stdout=output, stderr=output,
                  start_new_session=True)
    if SETPRIV is None:
        return await asyncio.create_subprocess_exec(*argv, preexec_fn=pdeathsig_preexec(os.getpid()), **common)
    _check_runnable(argv[0], env, cwd)
    return await asyncio.create_subprocess_exec(*supervised_argv(argv, os.getpid()), **common)
