"""The call lab: the fault suite's lab (tests/faults/lab.py) with SIP on top.

Hosts, each a network namespace on the fault suite's bridge:
- `s1`, `s2`: an etcd member, an Overseer agent, Kamailio as the
  `sip-proxy` service (tests/calls/docs.py); the active holds the floating
  address (the subnet's .100), the warm standby listens on it beforehand
  (`net.ipv4.ip_nonlocal_bind=1` in its namespace);
- `s3`: the third etcd member only;
- `uac`, `uas`: SIPp's caller and callee (tests/calls/sipp.py).

Every address is inside these namespaces. `CallLab` is a context manager;
closing it ends every process inside, SIPp and Kamailio's workers too.
"""
from __future__ import annotations

import ipaddress
import os
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path
from typing import Optional

from tests.faults.lab import AGENT_PORT, FaultLab
from tests.support.waiting import poll_until

from . import docs, sipp

CALLER, CALLEE = "uac", "uas"


class CallLab:
    def __init__(self, workdir: Path, fence: bool = True):
        self.workdir = Path(workdir)
        self.fence = fence
        self.lab = FaultLab(self.workdir, cluster="calls", timing=docs.TIMING, fence=fence,
                            agents=docs.PROXIES, clients=(CALLER, CALLEE), documents=self._documents)
        self.vip = ""
        self.sipp: dict[str, subprocess.Popen] = {}
        self.thawed: dict[str, float] = {}   # host -> when a frozen host ran again (epoch)

    # --- building -------------------------------------------------------------

    def _documents(self, lab: FaultLab) -> str:
        """Called once the namespaces exist and before any agent starts: the
        proxies may bind the floating address, Kamailio's config is written."""
        subnet = ipaddress.ip_network(f"{lab.net.address('s1')}/24", strict=False)
        self.vip = str(subnet.network_address + 100)
        for host in docs.PROXIES:
            subprocess.run(["ip", "netns", "exec", lab.net.hosts[host].ns, "sysctl", "-qw",
                            "net.ipv4.ip_nonlocal_bind=1"], check=True, timeout=20)
        config = self.workdir / "kamailio.cfg"
        config.write_text(docs.kamailio_config(self.vip, lab.net.address(CALLEE)))
        check = subprocess.run([docs.KAMAILIO, "-c", "-f", str(config)], capture_output=True, text=True, timeout=30)
        if check.returncode != 0:
            raise AssertionError(f"kamailio -c rejects {config}:\n{check.stderr[-2000:]}")
        addresses = {h: lab.net.address(h) for h in docs.PROXIES}
        return docs.cluster_docs(lab.cluster, addresses, AGENT_PORT, f"{self.vip}/24", str(config),
                                 str(self.workdir), lab.power_hosts if self.fence else None)

    def __enter__(self) -> "CallLab":
        self.lab.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for proc in self.sipp.values():
            if proc.poll() is None:
                proc.kill()
        self.lab.close()

    # --- what runs where ------------------------------------------------------

    def holders(self) -> list[str]:
        """The proxies whose eth0 carries the floating address now (the network's truth)."""
        out = []
        for host in docs.PROXIES:
            text = subprocess.run(["ip", "-n", self.lab.net.hosts[host].ns, "-o", "-4", "addr", "show", "dev", "eth0"],
                                  capture_output=True, text=True, timeout=20).stdout
            if f" {self.vip}/" in text:
                out.append(host)
        return out

    def active(self) -> str:
        found = self.holders()
        if len(found) != 1:
            raise AssertionError(f"the floating address {self.vip} is on {found or 'no proxy'}")
        return found[0]

    def kamailio_pids(self, host: str) -> list[int]:
        pids = []
        for pid in self.lab.host_pids(host):
            try:
                if Path(f"/proc/{pid}/comm").read_text().strip() == "kamailio":
                    pids.append(pid)
            except OSError:
                continue
        return pids

    def kill_kamailio(self, host: str) -> list[int]:
        """kill -9 of every Kamailio process of the host (main and workers: a crash)."""
        pids = self.kamailio_pids(host)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return pids

    def answers(self, timeout: float = 0.5) -> bool:
        """A SIP OPTIONS to the floating address from the root namespace is answered 200."""
        call_id = uuid.uuid4().hex
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((self.lab.net.root_address, 0))
            port = sock.getsockname()[1]
            request = (f"OPTIONS sip:{self.vip}:{sipp.SIP_PORT} SIP/2.0\r\n"
                       f"Via: SIP/2.0/UDP {self.lab.net.root_address}:{port};branch=z9hG4bK{call_id[:12]}\r\n"
                       f"From: <sip:lab@{self.lab.net.root_address}>;tag={call_id[:8]}\r\n"
                       f"To: <sip:{self.vip}>\r\nCall-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
                       "Content-Length: 0\r\n\r\n")
            sock.settimeout(timeout)
            sock.sendto(request.encode(), (self.vip, sipp.SIP_PORT))
            try:
                data = sock.recv(4096)
            except OSError:
                return False
        return data.startswith(b"SIP/2.0 200")

    def wait_ready(self, timeout: float = 60.0) -> str:
        """Both Kamailios run, one proxy holds the address and answers on it."""
        poll_until(lambda: all(self.kamailio_pids(h) for h in docs.PROXIES) and len(self.holders()) == 1
                   and self.answers(), timeout,
                   f"Kamailio on {' and '.join(docs.PROXIES)} and the address {self.vip} answering; "
                   f"see {self.workdir}", interval=0.3)
        return self.active()

    # --- SIPp -------------------------------------------------------------------

    def start_sipp(self, role: str, argv: list[str]) -> Path:
        directory = self.workdir / role
        directory.mkdir(exist_ok=True)
        with open(directory / "stderr", "ab") as err:
            self.sipp[role] = self.lab.net.run_in(role, argv, cwd=directory, stdout=subprocess.DEVNULL,
                                                  stderr=err)
        return directory

    def start_callee(self) -> Path:
        return self.start_sipp(CALLEE, sipp.callee_argv(self.lab.net.address(CALLEE)))

    def start_caller(self, load: sipp.Load) -> Path:
        return self.start_sipp(CALLER, sipp.caller_argv(self.vip, self.lab.net.address(CALLER), load))

    def stop_callee(self) -> None:
        proc = self.sipp.get(CALLEE)
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGUSR1)   # SIPp's "quit when calls are done"; they never will be
            try:
                proc.wait(3)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)

    def relayed_since(self, host: str, since: float) -> int:
        """Requests the host's Kamailio relayed after `since` (epoch), from its own log."""
        path = self.workdir / f"kamailio-{host}.log"
        try:
            lines = path.read_text(errors="replace").splitlines()
        except OSError:
            return 0
        count = 0
        for line in lines:
            _, marker, rest = line.partition("relay @TV ")
            if marker and float(rest.split()[0]) > since:
                count += 1
        return count

    def powered_off(self) -> dict[str, float]:
        return self.lab.powered_off()

    def power_on(self, host: str) -> Optional[str]:
        """Start the agent of a host the fence agent powered off (as the fault
        suite does once the fault heals); returns what was done."""
        if host in self.powered_off() and not self.lab.agent_running(host):
            self.lab.start_agent(host)
            return f"{host} powered on again"
        return None
