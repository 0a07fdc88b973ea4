"""The Host header allow-list: the board answers only to names it is known by.

DNS rebinding: a page from `evil.example` has its name re-pointed at
127.0.0.1 (or at the board's address), and the operator's browser, which
reaches the board, then reads its JSON as the attacker's own origin. What
gives it away is the Host header: the browser sends `evil.example`. So
every request whose Host is not on the list is refused with 421 Misdirected
Request before anything is read.

The list: the address the board listens on (a wildcard such as 0.0.0.0
too, though it names no machine: only tools on this one use it), `localhost`,
`127.0.0.1` and `::1`, and
every name given with `--allow-host` (a name, or an address, without a
port). The port is not compared: a rebinding page can only change the name. A request with no
Host header at all (HTTP/1.0 tools) is let through: browsers always send one.
"""
from __future__ import annotations

import ipaddress
import re
from typing import Iterable

LOOPBACK = ("localhost", "127.0.0.1", "::1")
WILDCARDS = ("", "0.0.0.0", "::")
NAME = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_.-]{0,252})")


class HostError(ValueError):
    """An `--allow-host` value that is not a host name or address."""


def normalise(name: str) -> str:
    """A Host header or an allowed name, without port, brackets, case or final dot."""
    host = name.strip().lower()
    if host.startswith("["):                       # [v6]:port
        host = host[1:].partition("]")[0]
    elif host.count(":") == 1:                     # name:port or v4:port
        host = host.partition(":")[0]
    return host.rstrip(".")


class AllowedHosts:
    def __init__(self, listen_host: str = "127.0.0.1", extra: Iterable[str] = ()):
        names = set(LOOPBACK)
        if normalise(listen_host):
            names.add(normalise(listen_host))
        for name in extra:
            names.add(_allowed_name(name))
        self.names = frozenset(_canonical(n) for n in names)

    def allows(self, host_header: str | None) -> bool:
        if host_header is None:
            return True
        return _canonical(normalise(host_header)) in self.names

    def only_loopback(self) -> bool:
        """True when no other machine's browser could reach the board by a name it accepts."""
        return self.names <= frozenset(_canonical(n) for n in LOOPBACK + WILDCARDS)


def _allowed_name(name: str) -> str:
    """An `--allow-host` value as compared: a DNS name or an address, without a port."""
    bare = name.strip()
    if bare.startswith("[") and bare.endswith("]"):
        bare = bare[1:-1]
    if ":" in bare:
        try:
            return str(ipaddress.IPv6Address(bare))
        except ValueError:
            pass
    elif NAME.fullmatch(bare):
        return _canonical(bare.lower().rstrip("."))
    raise HostError(f"--allow-host {name!r}: give a host name or an address, e.g. board.example.com")


def _canonical(host: str) -> str:
    # a long-form IPv6 address is the same host as its short form
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host
