"""The floating IP's pieces: announcement frames byte by byte, the wrapper's
order of steps (address after promote, gone before demote/stop), idempotent
delete, and the model's validation."""
import asyncio
import ipaddress
import os
import socket
import struct

import pytest
from pydantic import ValidationError

from overseer.actuators import vip as vipmod
from overseer.actuators.base import ActionContext, Actuator
from overseer.actuators.garp import garp_frame, unsolicited_na_frame
from overseer.desired.vip import Vip

MAC = bytes.fromhex("02aabbccddee")


def test_garp_frame_is_an_arp_announcement():
    frame = garp_frame(MAC, "10.0.0.50")
    assert len(frame) == 60                                   # padded to the Ethernet minimum
    assert frame[0:6] == b"\xff" * 6 and frame[6:12] == MAC   # broadcast, from us
    assert frame[12:14] == b"\x08\x06"                        # ARP
    htype, ptype, hlen, plen, oper = struct.unpack("!HHBBH", frame[14:22])
    assert (htype, ptype, hlen, plen, oper) == (1, 0x0800, 6, 4, 1)   # Ethernet/IPv4 request
    assert frame[22:28] == MAC and frame[28:32] == socket.inet_aton("10.0.0.50")   # sender
    assert frame[32:38] == b"\x00" * 6 and frame[38:42] == socket.inet_aton("10.0.0.50")   # target = sender IP
    assert frame[42:] == b"\x00" * 18


def _ones_complement_sum(data: bytes) -> int:
    total = 0
    for i in range(0, len(data), 2):
        total += int.from_bytes(data[i:i + 2].ljust(2, b"\x00"), "big")
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def test_unsolicited_na_frame():
    ip = "fd00::50"
    frame = unsolicited_na_frame(MAC, ip)
    assert frame[0:6] == bytes.fromhex("333300000001") and frame[6:12] == MAC and frame[12:14] == b"\x86\xdd"
    ipv6, icmp = frame[14:54], frame[54:]
    assert ipv6[0] >> 4 == 6 and struct.unpack("!H", ipv6[4:6])[0] == len(icmp) == 32
    assert ipv6[6] == 58 and ipv6[7] == 255                   # ICMPv6, hop limit 255 (RFC 4861 requires it)
    assert ipv6[8:24] == ipaddress.IPv6Address(ip).packed
    assert ipv6[24:40] == ipaddress.IPv6Address("ff02::1").packed
    assert icmp[0] == 136 and icmp[1] == 0                    # neighbour advertisement
    assert icmp[4] == 0x20                                    # Override, not Solicited, not Router
    assert icmp[8:24] == ipaddress.IPv6Address(ip).packed     # target
    assert icmp[24:26] == b"\x02\x01" and icmp[26:32] == MAC  # target link-layer address option
    # a correct checksum makes the sum over pseudo-header and message all ones
    pseudo = ipv6[8:40] + struct.pack("!I", len(icmp)) + b"\x00\x00\x00\x3a"
    assert _ones_complement_sum(pseudo + icmp) == 0xFFFF


class Recorder(Actuator):
    def __init__(self, log):
        self.log = log

    async def start(self, ctx):
        self.log.append("start")

    async def stop(self, ctx):
        self.log.append("stop")

    async def promote(self, ctx):
        self.log.append("promote")

    async def demote(self, ctx):
        self.log.append("demote")

    async def running(self, ctx):
        return True


@pytest.fixture
def fake_ip(tmp_path, monkeypatch):
    """An `ip` that logs its argv; `del` of an absent address fails as iproute2 does."""
    script = tmp_path / "ip"
    calls = tmp_path / "calls"
    script.write_text(f"""#!/bin/sh
echo "$*" >> {calls}
if [ "$2" = del ] && [ -e {tmp_path}/absent ]; then echo "Error: ipv4: Address not found." >&2; exit 2; fi
if [ "$2" = del ] && [ -e {tmp_path}/broken ]; then echo "Cannot find device \\"eth9\\"" >&2; exit 1; fi
""")
    script.chmod(0o755)
    monkeypatch.setattr(vipmod, "IP", str(script))
    monkeypatch.setattr(vipmod, "announce", lambda interface, ip: log.append(f"announce {ip} on {interface}"))
    log = []
    return tmp_path, calls, log


def _run(vip, log, *steps):
    ctx = ActionContext("lab", "pbx", "pbx1", "active", 3)
    actuator = vipmod.VipActuator(Recorder(log), vip, "pbx")

    async def go():
        for step in steps:
            await getattr(actuator, step)(ctx)
    asyncio.run(go())


def test_address_after_promote_and_gone_before_demote_and_stop(fake_ip):
    tmp, calls, log = fake_ip
    vip = Vip(address="10.0.0.50/24", interface="eth0", arpCount=2)
    # which ip calls each step made, and what the inner actuator and announcer saw
    seen = []
    for step in ("promote", "demote", "stop"):
        before = calls.read_text().splitlines() if calls.exists() else []
        _run(vip, log, step)
        after = calls.read_text().splitlines()
        seen.append((step, after[len(before):], list(log)))
        log.clear()
    (_, ip_promote, inner_promote), (_, ip_demote, inner_demote), (_, ip_stop, _) = seen
    assert ip_promote == ["addr replace 10.0.0.50/24 dev eth0"]
    assert inner_promote == ["promote", "announce 10.0.0.50 on eth0", "announce 10.0.0.50 on eth0"]
    assert ip_demote == ["addr del 10.0.0.50/24 dev eth0"] and inner_demote == ["demote"]
    assert ip_stop == ["addr del 10.0.0.50/24 dev eth0"]


def test_drop_runs_before_the_inner_demote(fake_ip, monkeypatch):
    tmp, calls, log = fake_ip
    vip = Vip(address="10.0.0.50/24", interface="eth0")
    order = []
    real_drop = vipmod.VipActuator.drop

    async def drop(self, ctx=None):
        await real_drop(self, ctx)
        order.append("dropped")
    monkeypatch.setattr(vipmod.VipActuator, "drop", drop)
    _run(vip, order, "demote", "stop")
    assert order == ["dropped", "demote", "dropped", "stop"]


def test_delete_of_an_absent_address_is_fine_other_errors_are_not(fake_ip):
    tmp, calls, log = fake_ip
    vip = Vip(address="10.0.0.50/24", interface="eth0")
    (tmp / "absent").touch()
    _run(vip, log, "demote", "stop")
    assert log == ["demote", "stop"]
    (tmp / "absent").unlink()
    (tmp / "broken").touch()
    with pytest.raises(vipmod.ActuatorError, match="vip del.*Cannot find device"):
        _run(vip, log, "demote")


def test_ipv6_is_added_without_duplicate_detection():
    vip = Vip(address="fd00::50/64", interface="eth0")
    assert vipmod.add_argv(vip)[-1] == "nodad" and vip.version == 6


@pytest.mark.parametrize("address, why", [
    ("10.0.0.50", "prefix length"),
    ("10.0.0.500/24", "CIDR"),
    ("127.0.0.5/8", "cannot float"),
    ("fe80::5/64", "cannot float"),
])
def test_vip_address_validation(address, why):
    with pytest.raises(ValidationError, match=why):
        Vip(address=address, interface="eth0")


def test_vip_fields_validation():
    assert Vip(address="10.0.0.50/24", interface="eth0").arpCount == 3
    for bad in ({"interface": "a very long name"}, {"interface": "eth/0"}, {"arpCount": 0}, {"arpcount": 3}):
        with pytest.raises(ValidationError):
            Vip(**{"address": "10.0.0.50/24", "interface": "eth0", **bad})


def test_a_crashed_child_drops_the_address_at_once(fake_ip):
    tmp, calls, log = fake_ip
    inner = Recorder(log)
    actuator = vipmod.VipActuator(inner, Vip(address="10.0.0.50/24", interface="eth0"), "pbx")
    heard = []
    actuator.on_exit = lambda service, code, message: heard.append((service, code, message))
    inner.on_exit("pbx", -9, "killed by SIGKILL")   # what the process actuator calls on a crash
    assert calls.read_text().splitlines() == ["addr del 10.0.0.50/24 dev eth0"]
    assert heard == [("pbx", -9, "killed by SIGKILL")]   # and the agent still hears of it


class DiesDuringPromote(Recorder):
    """A child the fencer kills while its promote command runs (the agent stopped)."""

    async def promote(self, ctx):
        self.log.append("promote")
        self.on_exit("pbx", -9, "killed by SIGKILL")


def test_no_address_for_a_child_that_died_while_it_was_promoted(fake_ip):
    tmp, calls, log = fake_ip
    inner = DiesDuringPromote(log)
    actuator = vipmod.VipActuator(inner, Vip(address="10.0.0.50/24", interface="eth0"), "pbx")
    asyncio.run(actuator.promote(ActionContext("lab", "pbx", "pbx1", "active", 3)))
    # the exit's own drop, and no add after it: that address would have no owner left to drop it
    assert calls.read_text().splitlines() == ["addr del 10.0.0.50/24 dev eth0"]


def test_a_child_that_dies_while_its_address_goes_up_loses_it(fake_ip, monkeypatch):
    tmp, calls, log = fake_ip
    inner = Recorder(log)
    actuator = vipmod.VipActuator(inner, Vip(address="10.0.0.50/24", interface="eth0", arpCount=1), "pbx")
    monkeypatch.setattr(vipmod, "announce", lambda interface, ip: inner.on_exit("pbx", -9, "killed"))
    asyncio.run(actuator.promote(ActionContext("lab", "pbx", "pbx1", "active", 3)))
    assert calls.read_text().splitlines() == ["addr replace 10.0.0.50/24 dev eth0",
                                              "addr del 10.0.0.50/24 dev eth0", "addr del 10.0.0.50/24 dev eth0"]
