"""A service's floating IP (`spec.vip`), held only while the service is active.

`VipActuator` wraps the service's own actuator: promote runs the service's
promote, then adds the address and announces it (actuators/garp.py); demote and
stop drop the address first, then run the service's step. The agent's fence
and retreat paths are made of the same demote/stop steps, so a self-fence drops
it too; the fencer process drops it when the agent goes silent (fencer.py), and
a crashed active child drops it at once (the master moves the service).

Both `ip` calls are idempotent: adding an address already present and deleting
one already gone are successes, so any pass can be repeated after a crash.

The system calls themselves (`ip addr`, the announcement) are an `IpCommands`
the wrapper is given: the agent passes the real one (its `Edges.addresses`),
the simulator one that records which server holds which address.
"""
from __future__ import annotations

import asyncio
import logging
import os
import shlex

from overseer.desired.vip import Vip

from .base import ActionContext, Actuator, ActuatorError
from .commands import CommandResult, run_command
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


class IpCommands:
    """The system calls behind a floating address (the agent's `Edges.addresses`)."""

    async def add(self, vip: Vip, env: dict[str, str], service: str) -> None:
        """`ip addr replace`; ActuatorError (or ActuatorTimeout) if it fails."""
        await run_command(add_argv(vip), env=env, timeout=IP_TIMEOUT, service=service, action="vip add")

    def announce(self, vip: Vip) -> None:
        """One gratuitous ARP / unsolicited NA; OSError if it cannot be sent."""
        announce(vip.interface, vip.ip)

    async def delete(self, vip: Vip, env: dict[str, str], service: str) -> CommandResult:
        """`ip addr del`, whatever its exit status (an absent address is not an error to the caller)."""
        return await run_command(del_argv(vip), env=env, timeout=IP_TIMEOUT, service=service,
                                 action="vip del", check=False)

    def delete_now(self, vip: Vip) -> None:
        """The same, blocking: for a callback that cannot await. OSError (TimeoutError) if it cannot run."""
        import subprocess  # noqa: PLC0415
        try:
            subprocess.run(del_argv(vip), capture_output=True, timeout=IP_TIMEOUT, check=False)
        except subprocess.TimeoutExpired as exc:
            raise TimeoutError(f"{shlex.join(exc.cmd)} timed out after {IP_TIMEOUT:g}s") from None


IP_COMMANDS = IpCommands()


class VipActuator(Actuator):
    """The inner actuator plus the address; every other call goes to the inner one."""

    def __init__(self, inner: Actuator, vip: Vip, service: str, ip: IpCommands = IP_COMMANDS) -> None:
        self.inner, self.vip, self.service, self.ip = inner, vip, service, ip
        self._on_exit = None
        self._exits = 0   # children that died so far: a promote adds the address only to a child still there
        inner.on_exit = self._child_exited

    # --- the address -------------------------------------------------------

    async def add(self, ctx: ActionContext) -> None:
        await self.ip.add(self.vip, ctx.env(), self.service)
        for n in range(self.vip.arpCount):
            if n:
                await asyncio.sleep(ANNOUNCE_GAP)
            try:
                self.ip.announce(self.vip)
            except OSError as exc:   # the address works without it; neighbours learn it on their next ARP
                log.warning("%s: announcing %s on %s failed: %s", self.service, self.vip.ip,
                            self.vip.interface, exc)
                break

    async def drop(self, ctx: ActionContext | None = None) -> None:
        env = ctx.env() if ctx is not None else {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")}
        result = await self.ip.delete(self.vip, env, self.service)
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
        exits = self._exits
        await self.inner.promote(ctx)
        if self._exits != exits:
            # The child died while its promote ran (the fencer killed it while
            # the agent was stopped: the promote command completes all the
            # same). Its exit dropped the address; adding it now would leave it
            # on a server whose lease is gone, with nobody to drop it, beside
            # the successor's. The worker sees the exit and starts afresh.
            return
        await self.add(ctx)
        if self._exits != exits:
            await self.drop(ctx)   # it died while the address went up: its own drop came first

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

    def follow(self, checks) -> None:
        self.inner.follow(checks)

    @property
    def followed(self) -> tuple[str, ...]:
        return self.inner.followed

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
        # The active (a child, or an exec/systemd main process) died: the
        # master will promote elsewhere, so the address
        # must go now, not at our next converge pass.
        self._exits += 1
        try:
            self.ip.delete_now(self.vip)
        except OSError as exc:
            log.error("%s: dropping %s after the child exited failed: %s", self.service, self.vip.address, exc)
        if self._on_exit is not None:
            self._on_exit(service, code, message)
