"""Hear of the exit of a process that is not our child, on the event loop.

`os.pidfd_open` (Linux 5.3+) gives a descriptor bound to one process, not to
its pid number: it becomes readable once that process has exited, and a pid
the kernel hands to another process afterwards never makes it lie. The loop's
`add_reader` wakes on it as on a socket: no thread, no polling. A zombie
counts as exited (its descriptor is readable at once).
"""
from __future__ import annotations

import asyncio
import os
from typing import Callable


class PidfdUnavailable(Exception):
    """This kernel or Python has no pidfd_open: exits are seen by the checks only."""


class ExitWatch:
    """Calls `on_exit(pid)` once, on the running loop, when process `pid` exits.

    Raises ProcessLookupError when no such process exists now, and
    PidfdUnavailable when the kernel cannot do it (ENOSYS before Linux 5.3)."""

    def __init__(self, pid: int, on_exit: Callable[[int], None]) -> None:
        if not hasattr(os, "pidfd_open"):
            raise PidfdUnavailable("os.pidfd_open is missing (Python before 3.9 or not Linux)")
        try:
            self.fd = os.pidfd_open(pid)
        except OSError as exc:
            if isinstance(exc, ProcessLookupError):
                raise
            raise PidfdUnavailable(f"pidfd_open({pid}): {exc.strerror or exc}") from None
        self.pid = pid
        self._on_exit = on_exit
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self.fd, self._fired)

    @property
    def open(self) -> bool:
        return self.fd >= 0

    def _fired(self) -> None:
        self.close()
        self._on_exit(self.pid)

    def close(self) -> None:
        if self.fd < 0:
            return
        self._loop.remove_reader(self.fd)
        os.close(self.fd)
        self.fd = -1
