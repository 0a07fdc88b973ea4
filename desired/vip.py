"""`spec.vip` of a Service: a floating IP that follows the service's active.

It is a part any service can carry, not a Service of its own: the address must
follow the PBX (or the database), so it is added and dropped in the same fenced
promote/demote steps as the service itself (actuators/vip.py), and the fencer
process that kills an unvouched active drops it too (reconciler/agent/fencer.py).
"""
from __future__ import annotations

import ipaddress
import re

from pydantic import Field, field_validator

from .fields import Strict

# Linux interface names: at most 15 bytes, no '/', no whitespace (IFNAMSIZ - 1).
IFNAME = re.compile(r"^[A-Za-z0-9_.:@-]{1,15}$")


class Vip(Strict):
    """The floating address: `ip addr add` plus gratuitous ARP (IPv4) or an
    unsolicited neighbour advertisement (IPv6) on promote; `ip addr del` on
    demote, stop or self-fence, before anyone else may add it. Needs CAP_NET_ADMIN
    (adding addresses) and CAP_NET_RAW (sending the announcements)."""
    address: str                       # CIDR, e.g. 10.0.0.50/24 or fd00::50/64: the prefix decides the on-link route
    interface: str                     # the interface the address is put on, e.g. eth0
    arpCount: int = Field(default=3, ge=1, le=100)   # announcements sent after adding, 0.2 s apart (keepalived's garp_master_repeat is 5)

    @field_validator("address")
    @classmethod
    def _cidr(cls, value: str) -> str:
        if "/" not in value:
            raise ValueError(f"expected an address with its prefix length (CIDR), e.g. {value}/24, got {value!r}")
        try:
            iface = ipaddress.ip_interface(value)
        except ValueError:
            raise ValueError(f"not an IPv4 or IPv6 address in CIDR form (e.g. 10.0.0.50/24): {value!r}") from None
        ip = iface.ip
        if ip.is_loopback or ip.is_multicast or ip.is_unspecified or ip.is_link_local:
            raise ValueError(f"{value!r} cannot float between servers (loopback, multicast, "
                             "unspecified or link-local); use a routable address of the servers' subnet")
        return str(iface)

    @field_validator("interface")
    @classmethod
    def _ifname(cls, value: str) -> str:
        if not IFNAME.match(value):
            raise ValueError(f"not a network interface name (1-15 letters, digits, '_.:@-'): {value!r}")
        return value

    @property
    def ip(self) -> str:
        return str(ipaddress.ip_interface(self.address).ip)

    @property
    def version(self) -> int:
        return ipaddress.ip_interface(self.address).version
