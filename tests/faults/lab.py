"""Three servers, each a network namespace holding one etcd member and one agent.

`FaultLab(workdir)` (a context manager) builds the hosts with
tests/support/netns.py, starts a 3-member etcd spread over them, applies the
cluster documents (tests/faults/docs.py) and starts one `overseer agent`
per host. Every Server has a fence agent, tests/faults/power.py, a power
switch that kills everything of its host but the etcd member
(`fence=False`: none, to see what happens without). It offers the fault primitives the runner schedules: a pulled
cable, one-way loss (nftables inside the host's namespace), signals to an
agent, stopping (SIGSTOP) or killing an etcd member or the whole etcd and
starting it again, freezing or killing everything of a host but its etcd
member, and operator commands. Every process, nft table and namespace goes
away with it, stopped ones too (closing sends SIGCONT before SIGKILL).

Stops are counted per pid (`hold`/`release`): two faults that stop the same
process overlap, and it runs again only when the last one heals.

Other labs build on it (tests/calls/): `agents` names the hosts that run an
agent (the others hold only their etcd member), `clients` adds namespaces
with no etcd member and no agent (a caller, a callee), and `documents`
writes the cluster's documents instead of tests/faults/docs.py.
"""
from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Callable, Optional, Sequence

from overseer.desired.store.local_etcd import etcd_binary
from overseer.reconciler.agent.peer_auth import write_key
from tests.support.cluster import OVERSEER
from tests.support.netns import NetnsLab, unavailable

from . import docs
from .sampler import STOPPED, state

SERVERS = ("s1", "s2", "s3")
CLIENT, PEER = 2379, 2380
AGENT_PORT = 7000
# Fast but not twitchy on a loaded 2-core machine (etcd's 10/100 ms defaults work on loopback).
ETCD_TIMING = ["--heartbeat-interval", "50", "--election-timeout", "500"]
NFT_TABLE = "ovfault"

__all__ = ["FaultLab", "SERVERS", "unavailable"]


class FaultLab:
    def __init__(self, workdir: Path, cluster: str = "faults", timing: Optional[docs.Timing] = None,
                 fence: bool = True, agents: Sequence[str] = SERVERS, clients: Sequence[str] = (),
                 documents: Optional[Callable[["FaultLab"], str]] = None,
                 specs: Optional[dict] = None):
        """`specs`: the services of tests/faults/docs.py to run (docs.SPECS by default)."""
        self.workdir = Path(workdir)
        self.specs = specs or docs.SPECS
        self.agent_hosts = tuple(agents)
        self.documents = documents
        self.fence = fence
        self.power_log = self.workdir / "power.jsonl"      # power.py's line per host it powered off
        self.cluster = cluster
        self.timing = timing or docs.Timing()
        self.journal = self.workdir / "journal.jsonl"
        self.ctl = self.workdir / "ctl"
        self.net = NetnsLab([*SERVERS, *clients])
        self.etcd: dict[str, subprocess.Popen] = {}
        self.agents: dict[str, subprocess.Popen] = {}
        self.holds: collections.Counter = collections.Counter()   # pid -> faults keeping it stopped
        self.nft: set[str] = set()

    # --- lifecycle ------------------------------------------------------------

    def __enter__(self) -> "FaultLab":
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.ctl.mkdir(exist_ok=True)
        key = self.workdir / "peer.key"    # the agents' failsafe key, one per lab
        key.unlink(missing_ok=True)
        write_key(str(key))
        self.net.__enter__()
        try:
            self._write_hosts()
            for host in SERVERS:
                self.start_member(host)
            self.wait_etcd()
            self.operator("apply", "-f", str(self._write_docs()))
            for host in self.agent_hosts:
                self.start_agent(host)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        try:
            # a stopped etcd member or agent must not outlive the lab, whatever failed
            self.release(list(self.holds), force=True)
            for host in list(self.nft):
                self.loss_off(host)
        finally:
            self.net.close()     # SIGCONT + SIGKILL to everything inside the namespaces

    def _write_docs(self) -> Path:
        path = self.workdir / "cluster.yaml"
        if self.documents is not None:
            path.write_text(self.documents(self))
            return path
        addresses = {h: self.net.address(h) for h in SERVERS}
        power = self.power_hosts if self.fence else None
        path.write_text(docs.cluster_docs(self.cluster, addresses, AGENT_PORT, str(self.journal),
                                          str(self.ctl), self.timing, power, self.specs))
        return path

    @property
    def power_hosts(self) -> str:
        """The hosts file power.py reads (the `fence` command's argument)."""
        return str(self.workdir / "hosts.json")

    def _member_pidfile(self, host: str) -> Path:
        return self.workdir / f"member-{host}.pid"

    def _write_hosts(self) -> None:
        """What power.py needs to find a host's processes: its namespace, and
        the pid of its etcd member, which it spares."""
        hosts = {h: {"ns": self.net.hosts[h].ns, "member_pidfile": str(self._member_pidfile(h))} for h in SERVERS}
        (self.workdir / "hosts.json").write_text(json.dumps({"hosts": hosts, "log": str(self.power_log)}))

    def powered_off(self) -> dict[str, float]:
        """host -> when power.py last powered it off (the master's fence agent)."""
        found: dict[str, float] = {}
        try:
            lines = self.power_log.read_text().splitlines()
        except OSError:
            return found
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            found[entry["host"]] = entry["t"]
        return found

    @property
    def endpoints(self) -> str:
        return ",".join(f"http://{self.net.address(h)}:{CLIENT}" for h in SERVERS)

    def env(self) -> dict:
        return dict(os.environ, OVERSEER_ETCD=self.endpoints, OVERSEER_CLUSTER=self.cluster,
                    OVERSEER_PEER_KEY_FILE=str(self.workdir / "peer.key"), PYTHONUNBUFFERED="1")

    # --- etcd -----------------------------------------------------------------

    def start_member(self, host: str) -> None:
        address = self.net.address(host)
        initial = ",".join(f"{h}=http://{self.net.address(h)}:{PEER}" for h in SERVERS)
        argv = [etcd_binary(), "--name", host, "--data-dir", str(self.workdir / f"etcd-{host}"),
                "--listen-client-urls", f"http://{address}:{CLIENT}",
                "--advertise-client-urls", f"http://{address}:{CLIENT}",
                "--listen-peer-urls", f"http://{address}:{PEER}",
                "--initial-advertise-peer-urls", f"http://{address}:{PEER}",
                "--initial-cluster", initial, "--initial-cluster-state", "new",
                "--initial-cluster-token", f"{self.net.prefix}-etcd",
                *ETCD_TIMING, "--logger", "zap", "--log-level", "warn"]
        with open(self.workdir / f"etcd-{host}.log", "ab") as log:
            self.etcd[host] = self.net.run_in(host, argv, stdout=log, stderr=log)
        self._member_pidfile(host).write_text(str(self.etcd[host].pid))

    def kill_member(self, host: str) -> None:
        proc = self.etcd.get(host)
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)

    def member_running(self, host: str) -> bool:
        proc = self.etcd.get(host)
        return proc is not None and proc.poll() is None

    def member_stopped(self, host: str) -> bool:
        return self.member_running(host) and self.holds[self.etcd[host].pid] > 0

    def stop_member(self, host: str) -> Optional[int]:
        """SIGSTOP the host's etcd member (a stall: fsync, a VM pause, a long
        GC); returns its pid for `release`, None when it is not running."""
        if not self.member_running(host):
            return None
        pid = self.etcd[host].pid
        self.hold([pid])
        return pid

    def _status(self, host: str) -> Optional[dict]:
        url = f"http://{self.net.address(host)}:{CLIENT}/v3/maintenance/status"
        try:
            req = urllib.request.Request(url, data=b"{}", method="POST")
            with urllib.request.urlopen(req, timeout=0.5) as resp:
                return json.loads(resp.read())
        except (OSError, ValueError):
            return None

    def etcd_leader(self) -> Optional[str]:
        """The host whose member leads, asking each member (None: no answer)."""
        for host in SERVERS:
            if self.member_stopped(host):
                continue    # it would not answer; a stopped leader is no leader for the others
            status = self._status(host)
            if status and status.get("leader") == status.get("header", {}).get("member_id"):
                return host
        return None

    def etcd_follower(self) -> Optional[str]:
        """A running, unstopped member that does not lead (None: none known)."""
        leader = self.etcd_leader()
        if leader is None:
            return None
        return next((h for h in SERVERS if h != leader and self.member_running(h)
                     and not self.member_stopped(h)), None)

    def move_leader(self) -> Optional[str]:
        """An etcd leader change without a crash (etcdctl move-leader): the
        leader hands over to another member. Returns the new leader's host."""
        leader = self.etcd_leader()
        if leader is None:
            return None
        target = next(h for h in SERVERS if h != leader)
        status = self._status(target)
        if not status:
            return None
        url = f"http://{self.net.address(leader)}:{CLIENT}/v3/maintenance/transfer-leadership"
        body = json.dumps({"targetID": status["header"]["member_id"]}).encode()
        try:
            with urllib.request.urlopen(urllib.request.Request(url, data=body, method="POST"), timeout=5):
                return target
        except OSError:
            return None

    def wait_etcd(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.etcd_leader() is not None:
                return
            time.sleep(0.1)
        raise AssertionError(f"3-member etcd had no leader after {timeout}s; see {self.workdir}/etcd-*.log")

    # --- agents ---------------------------------------------------------------

    def start_agent(self, host: str) -> None:
        state = self.workdir / f"state-{host}"
        state.mkdir(exist_ok=True)
        argv = [OVERSEER, "agent", "--server", host, "--state-dir", str(state)]
        with open(self.workdir / f"agent-{host}.log", "ab") as log:
            self.agents[host] = self.net.run_in(host, argv, env=self.env(), stdout=log, stderr=log)

    def agent_running(self, host: str) -> bool:
        proc = self.agents.get(host)
        return proc is not None and proc.poll() is None

    def kill_agent(self, host: str) -> None:
        proc = self.agents.get(host)
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)   # ends a stopped process too
            proc.wait(10)

    def stop_agent(self, host: str) -> Optional[int]:
        """SIGSTOP the agent alone; returns its pid for `release`."""
        if not self.agent_running(host):
            return None
        pid = self.agents[host].pid
        self.hold([pid])
        return pid

    # --- whole hosts ----------------------------------------------------------

    def host_pids(self, host: str) -> list[int]:
        """Every process of the host but its etcd member: the agent, its fencer,
        the services' children and any command running (ascending pids)."""
        out = subprocess.run(["ip", "netns", "pids", self.net.hosts[host].ns],
                             capture_output=True, text=True, timeout=20).stdout
        member = self.etcd[host].pid if self.member_running(host) else None
        return sorted(int(p) for p in out.split() if p.isdigit() and int(p) != member)

    def freeze_host(self, host: str) -> list[int]:
        """SIGSTOP the agent, its fencer and its children together (a host
        frozen: a VM paused, a hypervisor stall). Lists again until nothing
        new appears, for a process forked while the list was being stopped.
        Returns the pids for `release`."""
        frozen: list[int] = []
        for _ in range(10):
            new = [pid for pid in self.host_pids(host) if pid not in frozen]
            if not new:
                break
            self.hold(new)
            frozen += new
        return frozen

    def kill_host(self, host: str) -> list[int]:
        """SIGKILL the agent, its fencer and its children at once (the server
        gone: power lost). Its etcd member stays: the lab's etcd is a cluster
        of its own that happens to share the namespaces."""
        pids = self.host_pids(host)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc = self.agents.get(host)
        if proc is not None:
            proc.wait(10)
        return pids

    # --- stopping processes, counted ------------------------------------------

    def hold(self, pids: list[int]) -> None:
        """SIGSTOP each pid not already held; count the hold either way.
        Returns once the kernel shows each stopped (a signal to a process
        running on another core lands a moment later), or is gone."""
        for pid in pids:
            self.holds[pid] += 1
            if self.holds[pid] == 1:
                try:
                    os.kill(pid, signal.SIGSTOP)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline and any(state(pid) not in (*STOPPED, "", "Z", "X") for pid in pids):
            time.sleep(0.001)

    def release(self, pids: list[int], force: bool = False) -> None:
        """Drop one hold of each pid (all of them with `force`); SIGCONT, in
        the order given, every pid no fault holds any more."""
        woken = []
        for pid in pids:
            if self.holds[pid] <= 0:
                continue
            self.holds[pid] = 0 if force else self.holds[pid] - 1
            if self.holds[pid] == 0:
                del self.holds[pid]
                woken.append(pid)
        for pid in woken:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass

    # --- the network ----------------------------------------------------------

    def cut(self, host: str) -> None:
        self.net.cut(host)

    def restore(self, host: str) -> None:
        self.net.restore(host)

    def _nft(self, host: str, script: str) -> None:
        proc = subprocess.run(["ip", "netns", "exec", self.net.hosts[host].ns, "nft", "-f", "-"],
                              input=script, capture_output=True, text=True, timeout=20)
        if proc.returncode != 0:
            raise AssertionError(f"nft in {host} failed: {proc.stderr.strip()}\n{script}")

    def loss_on(self, host: str, direction: str) -> None:
        """Drop every packet on the host's eth0 in one direction: `in` (it hears
        nobody, others hear it) or `out` (it hears everybody, nobody hears it)."""
        hook = {"in": "input", "out": "output"}[direction]
        match = "iifname" if direction == "in" else "oifname"
        self._nft(host, f"table inet {NFT_TABLE} {{\n chain c {{\n  type filter hook {hook} priority 0;"
                        f" policy accept;\n  {match} \"eth0\" drop\n }}\n}}\n")
        self.nft.add(host)

    def loss_off(self, host: str) -> None:
        if host in self.nft:
            self._nft(host, f"delete table inet {NFT_TABLE}\n")
            self.nft.discard(host)

    # --- faults in the service's commands ----------------------------------------

    def command_fault(self, host: str, service: str, action: str, how: Optional[str]) -> None:
        path = self.ctl / f"{host}.{service}.{action}"
        if how is None:
            path.unlink(missing_ok=True)
        else:
            path.write_text(how)

    # --- the operator -----------------------------------------------------------

    def operator(self, *args: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
        proc = subprocess.run([OVERSEER, *args], env=self.env(), capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"overseer {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}")
        return proc

    def logs(self) -> list[Path]:
        return sorted(self.workdir.glob("agent-*.log")) + sorted(self.workdir.glob("etcd-*.log"))
