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

A service with a `user` runs as that user: the same setpriv drops the ids
and every capability (desired/child_user.py), so the child cannot read the
agent's environment or signal the agent or its fencer.
"""
from __future__ import annotations

import asyncio
import functools
import os
import signal
import sys
from typing import IO, Optional, Sequence

from overseer.desired.child_user import SETPRIV, Credentials, check_runnable, setpriv_program

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


# $0 is the agent's pid: a parent that is not the agent any more means it died
# before setpriv's prctl, and the signal would never come
_STILL_OURS = 'test "$PPID" = "$0" && exec "$@"; exit 127'


def supervised_argv(argv: Sequence[str], parent_pid: int,
                    user: Optional[Credentials] = None) -> list[str]:
    """argv behind setpriv and the parent check (the child keeps one pid throughout).

    With `user`, the same setpriv also drops to that user and every
    capability (desired/child_user.py) before the parent check: setpriv sets
    the parent-death signal after changing ids, which would clear it."""
    drop = user.setpriv_options() if user is not None else []
    return [SETPRIV, "--pdeathsig", "KILL", *drop, "--", "/bin/sh", "-c", _STILL_OURS, str(parent_pid), *argv]


async def spawn_supervised(argv: Sequence[str], *, env: dict[str, str], cwd: str | None,
                           output: IO[bytes] | None,
                           user: Optional[Credentials] = None) -> asyncio.subprocess.Process:
    """Start argv in a new process group that dies with this process, as `user`
    (None: as this process).

    `output` receives stdout and stderr; None lets the child inherit ours.
    Raises FileNotFoundError/PermissionError/NotADirectoryError as exec would,
    RunAsError when a user is asked for and setpriv is missing.
    """
    common = dict(env=env, cwd=cwd, stdin=asyncio.subprocess.DEVNULL, stdout=output, stderr=output,
                  start_new_session=True)
    if SETPRIV is None:
        if user is not None:
            setpriv_program()   # raises: no dropping without setpriv
        return await asyncio.create_subprocess_exec(*argv, preexec_fn=pdeathsig_preexec(os.getpid()), **common)
    check_runnable(argv[0], env, cwd)
    return await asyncio.create_subprocess_exec(*supervised_argv(argv, os.getpid(), user), **common)
