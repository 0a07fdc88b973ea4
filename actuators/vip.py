"""A service's floating IP (`spec.vip`), held only while the service is active.

`VipActuator` wraps the service's own actuator: promote runs the service's
promote, then adds the address and announces it (actuators/garp.py); demote and
stop drop the address first, then run the service's step. The agent's fence
and retreat paths are made of the same demote/stop steps, so a self-fence drops
it too; the fencer process drops it when the agent goes silent (fencer.py), and
a crashed active child drops it at once (the master moves the service).

Both `ip` calls are idempotent: adding an address already present and deleting
one already gone are successes, so any pass can be repeated after a crash.
"""
from __future__ import annotations

import asyncio
import logging
import os

from overseer.desired.vip import Vip

from .base import ActionContext, Actuator, ActuatorError
from .commands import run_command
from .garp import announce

log = logging.getLogger(__name__)
IP = os.environ.get("OVERSEER_IP_COMMAND", "ip")
IP_TIMEOUT = 5.0
ANNOUNCE_GAP = 0.2   # seconds between announcements, as arping's default is 1 s and keepalived's burst is back-to-back


def add_argv(vip: Vip) -> list[str]:
    # nodad: an IPv6 VIP must answer at once; duplicate detection would hold it
    # "tentative" for a second, and a duplicate is what fencing rules out anyway
    extra = ["nodad"] if vip.version == 6 else []
    return [IP, "addr", "replace", vip.address, "dev", vip.interface, *extra]


def del_argv(vip: Vip) -> list[str]:
    return [IP, "addr", "del", vip.address, "dev", vip.interface]


# what `ip addr del` says when the address is already gone (older iproute2, newer)
ABSENT = ("Cannot assign requested address", "Address not found")


class VipActuator(Actuator):
    """The inner actuator plus the address; every other call goes to the inner one."""

    def __init__(self, inner: Actuator, vip: Vip, service: str) -> None:
        self.inner, self.vip, self.service = inner, vip, service
        self._on_exit = None
        inner.on_exit = self._child_exited

    # --- the address -------------------------------------------------------

    async def add(self, ctx: ActionContext) -> None:
        await run_command(add_argv(self.vip), env=ctx.env(), timeout=IP_TIMEOUT,
                          service=self.service, action="vip add")
        for n in range(self.vip.arpCount):
            if n:
                await asyncio.sleep(ANNOUNCE_GAP)
            try:
                announce(self.vip.interface, self.vip.ip)
            except OSError as exc:   # the address works without it; neighbours learn it on their next ARP
                log.warning("%s: announcing %s on %s failed: %s", self.service, self.vip.ip,
                            self.vip.interface, exc)
                break

    async def drop(self, ctx: ActionContext | None = None) -> None:
        env = ctx.env() if ctx is not None else {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")}
        result = await run_command(del_argv(self.vip), env=env, timeout=IP_TIMEOUT,
                                   service=self.service, action="vip del", check=False)
        if result.returncode != 0 and not any(text in result.stderr for text in ABSENT):
            raise ActuatorError(self.service, "vip del", result.stderr.strip() or f"exit {result.returncode}",
                                result.argv)

    # --- the actuator contract ---------------------------------------------

    async def start(self, ctx: ActionContext) -> None:
        # starting means not active (promote comes after): an address left by
        # an agent killed while active goes now, when it comes back
        await self.drop(ctx)
        await self.inner.start(ctx)

    async def promote(self, ctx: ActionContext) -> None:
        await self.inner.promote(ctx)
        await self.add(ctx)

    async def demote(self, ctx: ActionContext) -> None:
        await self.drop(ctx)   # before the service steps down: never two holders
        await self.inner.demote(ctx)

    async def stop(self, ctx: ActionContext) -> None:
        await self.drop(ctx)
        await self.inner.stop(ctx)

    async def running(self, ctx: ActionContext) -> bool | None:
        return await self.inner.running(ctx)

    def child_pid(self) -> int | None:
        return self.inner.child_pid()

    async def close(self) -> None:
        # the agent stops its services: the address goes with them
        try:
            await self.drop()
        finally:
            await self.inner.close()

    @property
    def on_exit(self):
        return self._on_exit

    @on_exit.setter
    def on_exit(self, callback) -> None:
        self._on_exit = callback

    def _child_exited(self, service: str, code, message: str) -> None:
        # The active died: the master will promote elsewhere, so the address
        # must go now, not at our next converge pass.
        try:
            import subprocess  # noqa: PLC0415
            subprocess.run(del_argv(self.vip), capture_output=True, timeout=IP_TIMEOUT, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.error("%s: dropping %s after the child exited failed: %s", self.service, self.vip.address, exc)
        if self._on_exit is not None:
            self._on_exit(service, code, message)
