"""Separate hosts on one machine: one network namespace per host, a hub between.

`NetnsLab(["etcd", "pbx1", ...])` builds, as a context manager:

- a hub namespace with a bridge `br0`;
- per host a namespace with `lo` and `eth0`, the peer of a veth `hN` plugged
  into the hub's bridge, address `10.231.X.(N+1)/24`;
- a veth from the root namespace into the bridge (`10.231.X.254`), so the test
  process itself can reach every host (apply documents, read etcd).

Names start with `ov<pid>-<n>-` so parallel and leftover runs never clash;
the /24 is one no route of the root namespace uses yet (chosen under a file
lock). A partition is `cut(host)`: the host's port on the bridge goes down and
its packets are dropped, not refused, like a pulled cable. `close()` (also on
a failing test) kills every process started in the namespaces, including
grandchildren still inside, and deletes the namespaces and the root veth.

Needs root and `ip netns`; `unavailable()` says why not, for a skip reason.
"""
from __future__ import annotations

import fcntl
import ipaddress
import itertools
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from typing import Optional, Sequence

_counter = itertools.count()
_LOCK = "/tmp/overseer-netns.lock"
_RANGE = ipaddress.ip_network("10.231.0.0/16")


class NetnsError(Exception):
    """An `ip` command failed: names the command and its stderr."""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=20)
    if check and proc.returncode != 0:
        raise NetnsError(f"`ip {' '.join(args)}` exited {proc.returncode}: {proc.stderr.strip()}")
    return proc


def unavailable() -> Optional[str]:
    """Why namespaces cannot be built here, or None when they can."""
    if os.geteuid() != 0:
        return "network namespaces need root (this runs as uid %d)" % os.geteuid()
    name = f"ov{os.getpid()}-probe"
    try:
        _ip("netns", "add", name)
    except (NetnsError, FileNotFoundError) as exc:
        return f"`ip netns add` does not work here: {exc}"
    _ip("netns", "del", name, check=False)
    return None


@dataclass(frozen=True)
class Host:
    name: str
    ns: str
    address: str
    hub_port: str      # the veth end on the hub's bridge; down = partitioned


def _used_subnets() -> set:
    out = _ip("-4", "route", "show", "table", "all").stdout + _ip("-4", "-o", "addr").stdout
    used = set()
    for word in out.split():
        try:
            net = ipaddress.ip_network(word.split("/")[0] + "/24", strict=False)
        except ValueError:
            continue
        if net.subnet_of(_RANGE):
            used.add(net)
    return used


class NetnsLab:
    """N host namespaces joined by a bridge in a hub namespace (see module doc)."""

    def __init__(self, hosts: Sequence[str], root_access: bool = True):
        if len(set(hosts)) != len(hosts) or not hosts or len(hosts) > 200:
            raise ValueError(f"hosts must be 1..200 distinct names, got {list(hosts)}")
        self.prefix = f"ov{os.getpid()}-{next(_counter)}"
        self.hub = f"{self.prefix}-hub"
        self.root_if = self.prefix.replace("-", "r")[:15] if root_access else None
        self.root_address: Optional[str] = None
        self.hosts: dict[str, Host] = {}
        self.procs: list[subprocess.Popen] = []
        self._names = list(hosts)
        self._made: list[str] = []

    # --- building ---------------------------------------------------------------

    def __enter__(self) -> "NetnsLab":
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _add_ns(self, ns: str) -> None:
        _ip("netns", "add", ns)
        self._made.append(ns)
        _ip("-n", ns, "link", "set", "lo", "up")

    def _build(self) -> None:
        self._add_ns(self.hub)
        _ip("-n", self.hub, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.hub, "link", "set", "br0", "up")
        # the lock makes choosing a /24 and claiming it in the root namespace one step
        with open(_LOCK, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            subnet = self._pick_subnet()
            for index, name in enumerate(self._names, start=1):
                self._add_host(index, name, subnet)
            if self.root_if:
                self._add_root_port(subnet)

    def _pick_subnet(self) -> ipaddress.IPv4Network:
        used = _used_subnets()
        subnets = list(_RANGE.subnets(new_prefix=24))
        start = os.getpid() % len(subnets)
        for k in range(len(subnets)):
            net = subnets[(start + k) % len(subnets)]
            if net not in used:
                return net
        raise NetnsError(f"every /24 of {_RANGE} is in use in the root namespace; delete leftover ov* links")

    def _add_host(self, index: int, name: str, subnet) -> None:
        ns, port = f"{self.prefix}-{name}"[:60], f"h{index}"
        address = str(subnet.network_address + index + 1)
        self._add_ns(ns)
        _ip("-n", self.hub, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns)
        _ip("-n", self.hub, "link", "set", port, "master", "br0", "up")
        _ip("-n", ns, "addr", "add", f"{address}/{subnet.prefixlen}", "dev", "eth0")
        _ip("-n", ns, "link", "set", "eth0", "up")
        self.hosts[name] = Host(name, ns, address, port)

    def _add_root_port(self, subnet) -> None:
        _ip("link", "add", self.root_if, "type", "veth", "peer", "name", "root", "netns", self.hub)
        _ip("-n", self.hub, "link", "set", "root", "master", "br0", "up")
        self.root_address = str(subnet.network_address + 254)
        _ip("addr", "add", f"{self.root_address}/{subnet.prefixlen}", "dev", self.root_if)
        _ip("link", "set", self.root_if, "up")

    # --- using ------------------------------------------------------------------

    def address(self, host: str) -> str:
        return self.hosts[host].address

    def run_in(self, host: str, argv: Sequence[str], **popen_kwargs) -> subprocess.Popen:
        """Start argv inside the host's namespace (`ip netns exec` execs, so the pid is argv's)."""
        popen_kwargs.setdefault("start_new_session", True)
        proc = subprocess.Popen(["ip", "netns", "exec", self.hosts[host].ns, *argv], **popen_kwargs)
        self.procs.append(proc)
        return proc

    def cut(self, host: str) -> None:
        """Pull the host's cable: its bridge port goes down, packets are dropped."""
        _ip("-n", self.hub, "link", "set", self.hosts[host].hub_port, "down")

    def restore(self, host: str) -> None:
        _ip("-n", self.hub, "link", "set", self.hosts[host].hub_port, "up")

    def reachable(self, address: str, port: int, timeout: float = 0.3) -> bool:
        """TCP connect from the root namespace (there is no ping here)."""
        try:
            with socket.create_connection((address, port), timeout=timeout):
                return True
        except OSError:
            return False

    # --- cleanup ----------------------------------------------------------------

    def _pids_inside(self) -> set[int]:
        pids = set()
        for ns in self._made:
            out = _ip("netns", "pids", ns, check=False).stdout
            pids.update(int(p) for p in out.split() if p.isdigit())
        return pids

    def _kill_all(self) -> None:
        # our own children plus whatever they left inside (supervised grandchildren)
        for pid in {p.pid for p in self.procs if p.poll() is None} | self._pids_inside():
            try:
                os.kill(pid, signal.SIGCONT)
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        deadline = time.monotonic() + 5
        while self._pids_inside() and time.monotonic() < deadline:
            time.sleep(0.02)

    def close(self) -> None:
        """Kill everything started inside, delete every namespace and the root veth."""
        self._kill_all()
        errors = []
        if self.root_if:
            _ip("link", "del", self.root_if, check=False)  # usually gone with the hub already
        for ns in reversed(self._made):
            proc = _ip("netns", "del", ns, check=False)
            if proc.returncode != 0:
                errors.append(f"{ns}: {proc.stderr.strip()}")
        self._made.clear()
        if errors:
            raise NetnsError("could not delete namespaces: " + "; ".join(errors))
