"""The floating addresses (spec.vip): which server holds which, and the edge
through which the real VIP actuator changes that.

`Addresses` is the world's record: an address is held by every server that
added it and has not deleted it since, as on a real network; every change
goes to the trace and each new holder to the checker. `SimIp` is one server's
`Edges.addresses`, handed to the real `VipActuator` (actuators/vip.py): `ip
addr replace` and `ip addr del` are commands (commands.py) that land on the
world's time and keep running if the agent stops or dies; `delete_now`, the
blocking call the VIP actuator makes when a child dies, lands at once. The
simulated fencer deletes through the same record. While a `vip_fail` fault
is on a server (`Addresses.failing`), its `ip addr replace` fails as
iproute2 does when the kernel refuses the address; deleting still works. A
server powered off by its fence agent holds no address (`power_off`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from overseer.actuators.base import ActuatorError
from overseer.actuators.commands import CommandResult
from overseer.actuators.vip import IP_TIMEOUT, IpCommands, add_argv, del_argv
from overseer.desired.vip import Vip

from .commands import Outcome, SimCommand, wait

if TYPE_CHECKING:
    from .world import World

IP_COMMAND = (0.001, 0.01)   # one `ip addr` command, spawned and done
ABSENT = "Error: ipv4: Address not found."   # what iproute2 says deleting an address not there
REFUSED = "RTNETLINK answers: Cannot assign requested address"   # `ip addr replace` the kernel refuses


class Addresses:
    def __init__(self, world: "World"):
        self.world = world
        self.holders: dict[str, set[str]] = {}   # address (CIDR) -> servers holding it
        self.service_of: dict[str, str] = {}     # address -> the service whose vip it is
        self.refused_until: dict[str, float] = {}   # server -> until when it cannot add any (vip_fail)

    def failing(self, server: str) -> bool:
        """Whether `server`'s kernel refuses to add a floating address now."""
        return self.world.now() < self.refused_until.get(server, 0.0)

    def refuse(self, server: str, until: float) -> None:
        self.refused_until[server] = max(until, self.refused_until.get(server, 0.0))

    def address_of(self, service: str) -> str:
        return next((a for a, s in self.service_of.items() if s == service), "")

    def holds(self, server: str, service: str) -> bool:
        return server in self.holders.get(self.address_of(service), ())

    def hold(self, server: str, address: str, why: str) -> None:
        held = self.holders.setdefault(address, set())
        if server in held:
            return
        held.add(server)
        self.world.trace.event(self.world.now(), server, f"ADDRESS {address} added ({why}); "
                                                         f"held by {', '.join(sorted(held))}")
        self.world.checker.address_held(self.service_of.get(address, "?"), address, sorted(held))

    def release(self, server: str, address: str, why: str) -> bool:
        """False if `server` did not hold it."""
        held = self.holders.get(address, set())
        if server not in held:
            return False
        held.discard(server)
        self.world.trace.event(self.world.now(), server, f"ADDRESS {address} deleted ({why}); "
                                                         f"held by {', '.join(sorted(held)) or 'nobody'}")
        return True

    def power_off(self, server: str) -> None:
        """A server powered off holds no address, whatever its fencer knew of."""
        for address in sorted(self.holders):
            self.release(server, address, "powered off")


class SimIp(IpCommands):
    """One server's `ip addr` and announcements."""

    def __init__(self, world: "World", server: str):
        self.world, self.server = world, server

    def _command(self, act) -> SimCommand:
        return SimCommand(self.world, self.world.proc_rng.uniform(*IP_COMMAND), act)

    async def add(self, vip: Vip, env: dict[str, str], service: str) -> None:
        def act() -> Outcome:
            if self.server in self.world.fence_agents.off:
                return 255, "powered off"   # a command that outlived its host's power does nothing
            if self.world.addresses.failing(self.server):
                return 2, REFUSED
            self.world.addresses.hold(self.server, vip.address, f"{service}: ip addr replace")
            return 0, ""
        argv = add_argv(vip)
        code, err = await wait(self._command(act), IP_TIMEOUT, service, "vip add", argv)
        if code != 0:
            raise ActuatorError(service, "vip add", f"exited {code}: {err}", argv)

    def announce(self, vip: Vip) -> None:
        pass   # neighbours' caches are not simulated: the address answers from whoever holds it

    async def delete(self, vip: Vip, env: dict[str, str], service: str) -> CommandResult:
        def act() -> Outcome:
            gone = self.world.addresses.release(self.server, vip.address, f"{service}: ip addr del")
            return (0, "") if gone else (2, ABSENT)
        argv = del_argv(vip)
        code, err = await wait(self._command(act), IP_TIMEOUT, service, "vip del", argv)
        return CommandResult(tuple(argv), code, "", err)

    def delete_now(self, vip: Vip) -> None:
        self.world.addresses.release(self.server, vip.address, "ip addr del after the child exited")
