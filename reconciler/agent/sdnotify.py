"""A tiny sd_notify client: tell systemd we are ready, alive, or stopping.

systemd passes `$NOTIFY_SOCKET` (a unix datagram socket path; a leading `@`
means the abstract namespace) to a `Type=notify` service and, with
`WatchdogSec=`, `$WATCHDOG_USEC`. Each message is one datagram of
`KEY=VALUE` lines. Without `$NOTIFY_SOCKET` every call is a no-op, so the
agent runs the same under systemd, in a terminal, or in the tests.

The watchdog pings come from a task on the agent's own event loop: if that
loop hangs, the pings stop and systemd restarts the agent.
"""
from __future__ import annotations

import asyncio
import logging
import os
import socket
from typing import Optional

log = logging.getLogger(__name__)


def _address() -> Optional[str]:
    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return None
    return "\0" + path[1:] if path.startswith("@") else path


def notify(message: str) -> bool:
    """Send one datagram; False when not under systemd or the socket is gone."""
    address = _address()
    if address is None:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto(message.encode("utf-8"), address)
    except OSError as exc:
        # systemd restarting or a stale variable: worth a line, never worth crashing the agent
        log.warning("sd_notify %s to %s failed: %s", message.split("\n")[0], address.lstrip("\0"), exc)
        return False
    return True


def ready(status: str = "") -> bool:
    return notify("READY=1" + (f"\nSTATUS={status}" if status else ""))


def stopping() -> bool:
    return notify("STOPPING=1")


def watchdog_interval() -> Optional[float]:
    """Half of `$WATCHDOG_USEC` in seconds, or None when no watchdog is asked for.

    `$WATCHDOG_PID`, when set, names the process the watchdog is meant for;
    a child that inherited the environment must not ping in our place.
    """
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0 or (pid.isdigit() and int(pid) != os.getpid()):
        return None
    return int(usec) / 2e6


async def watchdog_loop() -> None:
    """Ping `WATCHDOG=1` every half period until cancelled (returns at once without a watchdog)."""
    interval = watchdog_interval()
    if interval is None or _address() is None:
        return
    while True:
        notify("WATCHDOG=1")
        await asyncio.sleep(interval)
