"""Announce a just-added floating address: gratuitous ARP / unsolicited NA.

Switches and phones cache the old server's MAC for the VIP for minutes; one
announcement from the new holder updates them at once (keepalived's
garp_master_*). Sent from a raw AF_PACKET socket (CAP_NET_RAW), so no `arping`
binary is needed. The frame builders are pure and unit-tested byte by byte.
"""
from __future__ import annotations

import fcntl
import ipaddress
import socket
import struct

BROADCAST = b"\xff" * 6
ALL_NODES_MAC = bytes.fromhex("333300000001")      # ff02::1 mapped to Ethernet multicast
ALL_NODES = ipaddress.IPv6Address("ff02::1")
SIOCGIFHWADDR = 0x8927
ETH_P_ARP, ETH_P_IPV6 = 0x0806, 0x86DD
ETH_MIN_FRAME = 60   # without FCS: shorter frames are padded


def garp_frame(mac: bytes, ip: str) -> bytes:
    """An ARP announcement (RFC 5227 §2.3): a request whose sender and target
    protocol address are both `ip`, broadcast. Requests, not replies: every
    host updates an existing cache entry from either, and some switches only
    look at requests."""
    addr = ipaddress.IPv4Address(ip).packed
    arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, mac, addr, b"\x00" * 6, addr)
    frame = BROADCAST + mac + struct.pack("!H", ETH_P_ARP) + arp
    return frame.ljust(ETH_MIN_FRAME, b"\x00")


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def unsolicited_na_frame(mac: bytes, ip: str) -> bytes:
    """An unsolicited neighbour advertisement (RFC 4861 §7.2.6) to all nodes,
    Override flag set, with our MAC as the target link-layer address option."""
    target = ipaddress.IPv6Address(ip).packed
    body = struct.pack("!I16sBB6s", 0x20000000, target, 2, 1, mac)   # flags: O; option 2, 8 bytes
    pseudo = target + ALL_NODES.packed + struct.pack("!I3xB", 4 + len(body), 58)
    icmp = struct.pack("!BBH", 136, 0, _checksum(pseudo + struct.pack("!BBH", 136, 0, 0) + body)) + body
    ipv6 = struct.pack("!IHBB16s16s", 6 << 28, len(icmp), 58, 255, target, ALL_NODES.packed)
    return ALL_NODES_MAC + mac + struct.pack("!H", ETH_P_IPV6) + ipv6 + icmp


def interface_mac(sock: socket.socket, interface: str) -> bytes:
    info = fcntl.ioctl(sock.fileno(), SIOCGIFHWADDR, struct.pack("256s", interface.encode()[:15]))
    return info[18:24]


def announce(interface: str, ip: str) -> None:
    """Send one announcement of `ip` on `interface` (blocking, microseconds)."""
    version = ipaddress.ip_address(ip).version
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as sock:
        sock.bind((interface, 0))
        mac = interface_mac(sock, interface)
        sock.send(garp_frame(mac, ip) if version == 4 else unsolicited_na_frame(mac, ip))
